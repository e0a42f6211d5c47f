import { useEffect, useId, useMemo, useRef, useState } from "react";
import { formatChangeTime, formatFullTime, shortId } from "../reports/format";
import { statusLabel } from "../reports/labels";
import type { Notice } from "../reports/notices";
import { reportsNewestFirst } from "../reports/state";
import { nextStatuses, transitionLabel } from "../reports/transitions";
import type { Report, Status } from "../reports/types";
import { useLiveReports } from "../reports/useLiveReports";
import { useToday } from "../reports/useToday";
import { ConnectionStatus } from "./ConnectionStatus";
import { CopyButton } from "./CopyButton";
import { Logo } from "./SignIn";
import { StatusBadge } from "./StatusBadge";

const PAUSED_HINT = "Actions paused until the connection is back.";

export function ReportsPage({ userId, onSignOut }: { userId: string; onSignOut: () => void }) {
  const live = useLiveReports(userId);
  const reports = useMemo(() => reportsNewestFirst(live.state), [live.state]);
  const today = useToday();
  const pausedHintId = useId();
  // Without the stream the page cannot show what a change did, nor what others changed
  // meanwhile: changes wait until it is back.
  const paused = live.connection !== "live";
  const pause = paused ? { hintId: pausedHintId } : null;

  return (
    <div className="app" data-connection={live.connection} data-live-role={live.role}>
      <header className="topbar">
        <div className="topbar__inner">
          <div className="brand">
            <Logo />
            <span>Report Status</span>
          </div>
          <ConnectionStatus state={live.connection} role={live.role} />
          <div className="account">
            <span className="account__label">Signed in as</span>
            <span className="account__id-group">
              <code className="account__id" data-testid="user-id" title={userId}>
                {userId}
              </code>
              <CopyButton text={userId} label="Copy your user ID" />
            </span>
            <button type="button" className="button button--quiet button--small" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </div>
      </header>

      <main className="content" id="main">
        <div className="toolbar">
          <div>
            <h1 className="toolbar__title">Reports</h1>
            <p className="toolbar__meta">
              {live.state.loaded ? countText(reports.length) : "Loading…"}
            </p>
          </div>
          <div className="toolbar__actions">
            <button
              type="button"
              className="button button--primary"
              data-action="create"
              onClick={() => {
                if (!live.creating && !paused) void live.create();
              }}
              aria-disabled={live.creating || paused || undefined}
              aria-describedby={pause?.hintId}
            >
              <span aria-hidden="true" className="button__plus">
                +
              </span>
              {live.creating ? "Creating…" : "Create New Report"}
            </button>
            <p id={pausedHintId} className={paused ? "paused-hint" : "paused-hint paused-hint--off"}>
              <svg className="paused-hint__icon" width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
                <path d="M8 1.5l7 12.5H1z" fill="currentColor" />
                <path d="M8 6v3.6M8 11.6v.1" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
              </svg>
              {PAUSED_HINT}
            </p>
          </div>
        </div>

        <Notices notices={live.notices} onDismiss={live.dismiss} />

        {live.loadError && (
          <div className="notice notice--error" role="alert">
            <div>
              <p className="notice__title">Could not load your reports</p>
              <p className="notice__detail">{live.loadError}</p>
            </div>
            <button type="button" className="button button--small" onClick={live.reload}>
              Try again
            </button>
          </div>
        )}

        <ReportTable
          reports={reports}
          loaded={live.state.loaded}
          failed={live.loadError !== null}
          changing={live.changing}
          pause={pause}
          today={today}
          onChange={live.changeStatus}
        />
      </main>
    </div>
  );
}

function countText(count: number): string {
  return count === 1 ? "1 report" : `${count} reports`;
}

function Notices({ notices, onDismiss }: { notices: readonly Notice[]; onDismiss: (id: number) => void }) {
  return (
    <div className="notices" role="alert" aria-live="assertive">
      {notices.map((notice) => (
        <div key={notice.id} className="notice notice--error" data-testid="error">
          <div>
            <p className="notice__title">{notice.title}</p>
            <p className="notice__detail">{notice.detail}</p>
          </div>
          <button
            type="button"
            className="button button--quiet button--small"
            onClick={() => onDismiss(notice.id)}
            aria-label={`Dismiss: ${notice.title}`}
          >
            Dismiss
          </button>
        </div>
      ))}
    </div>
  );
}

interface TableProps {
  reports: readonly Report[];
  loaded: boolean;
  failed: boolean;
  changing: ReadonlySet<string>;
  /** Set while changes wait for the live connection: the id of the hint that says so. */
  pause: { hintId: string } | null;
  today: Date;
  onChange: (reportId: string, status: Status) => Promise<boolean>;
}

function ReportTable({ reports, loaded, failed, changing, pause, today, onChange }: TableProps) {
  if (!loaded && reports.length === 0) {
    if (failed) return null; // the error above says why there is nothing to show
    return (
      <div className="empty" aria-busy="true">
        <p className="empty__text">Loading your reports…</p>
      </div>
    );
  }
  if (reports.length === 0) {
    return (
      <div className="empty">
        <p className="empty__title">No reports yet</p>
        <p className="empty__text">Create one and watch its status change here as it moves along.</p>
      </div>
    );
  }
  return (
    <div className="table-wrap">
      <table className="reports" aria-busy={!loaded || undefined}>
        <caption className="visually-hidden">Your reports, newest first</caption>
        {/* Fixed widths (table-layout: fixed), so the columns stay put as statuses and buttons change. */}
        <colgroup>
          <col className="reports__col-report" />
          <col className="reports__col-status" />
          <col className="reports__col-time" />
          <col className="reports__col-actions" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Report</th>
            <th scope="col">Status</th>
            <th scope="col">Last change</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {reports.map((report) => (
            <ReportRow
              key={report.reportId}
              report={report}
              busy={changing.has(report.reportId)}
              pause={pause}
              today={today}
              onChange={onChange}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ReportRow({
  report,
  busy,
  pause,
  today,
  onChange,
}: {
  report: Report;
  busy: boolean;
  pause: TableProps["pause"];
  today: Date;
  onChange: TableProps["onChange"];
}) {
  const actionsRef = useRef<HTMLDivElement>(null);
  const refocus = useRef(false);
  const [flashKey, setFlashKey] = useState(report.updatedAt);
  const changed = flashKey !== report.updatedAt;
  const targets = nextStatuses(report.reportStatus);

  // The clicked button is gone once the status changed: keep keyboard focus in this row rather
  // than letting it fall back to the top of the page.
  useEffect(() => {
    if (!refocus.current) return;
    refocus.current = false;
    if (document.activeElement && document.activeElement !== document.body) return;
    const target = actionsRef.current?.querySelector<HTMLElement>("button") ?? actionsRef.current;
    target?.focus();
  }, [report.reportStatus]);

  const change = async (status: Status) => {
    if (busy || pause) return;
    refocus.current = true;
    if (!(await onChange(report.reportId, status))) refocus.current = false;
  };

  return (
    <tr
      data-report-id={report.reportId}
      data-status={report.reportStatus}
      className={changed ? "row--changed" : undefined}
      onAnimationEnd={() => setFlashKey(report.updatedAt)}
    >
      <td data-label="Report">
        <span className="report-id">
          <code className="report-id__short" title={report.reportId}>
            {shortId(report.reportId)}
          </code>
          <CopyButton text={report.reportId} label={`Copy the full ID of report ${shortId(report.reportId)}`} />
        </span>
      </td>
      <td data-label="Status">
        <StatusBadge status={report.reportStatus} />
      </td>
      <td data-label="Last change">
        <time dateTime={report.updatedAt} title={formatFullTime(report.updatedAt)}>
          {formatChangeTime(report.updatedAt, today)}
        </time>
      </td>
      <td data-label="Actions" className="actions-cell">
        <div className="actions" ref={actionsRef} tabIndex={-1} aria-busy={busy || undefined}>
          {targets.length === 0 ? (
            <span className="actions__final">Final</span>
          ) : (
            targets.map((to) => (
              <button
                key={to}
                type="button"
                className={to === "canceled" || to === "failed" ? "button button--small button--danger" : "button button--small"}
                onClick={() => void change(to)}
                aria-disabled={busy || pause !== null || undefined}
                aria-describedby={pause?.hintId}
                data-transition={to}
                title={pause ? PAUSED_HINT : `Set to ${statusLabel(to)}`}
              >
                {transitionLabel(report.reportStatus, to)}
                <span className="visually-hidden"> report {shortId(report.reportId)}</span>
              </button>
            ))
          )}
        </div>
      </td>
    </tr>
  );
}
