import { useEffect, useMemo, useRef, useState } from "react";
import { formatChangeTime, formatFullTime, shortId } from "../reports/format";
import { statusLabel } from "../reports/labels";
import { reportsNewestFirst } from "../reports/state";
import { nextStatuses, transitionLabel } from "../reports/transitions";
import type { Report, Status } from "../reports/types";
import { useLiveReports, type Notice } from "../reports/useLiveReports";
import { ConnectionStatus } from "./ConnectionStatus";
import { Logo } from "./SignIn";
import { StatusBadge } from "./StatusBadge";

export function ReportsPage({ userId, onSignOut }: { userId: string; onSignOut: () => void }) {
  const live = useLiveReports(userId);
  const reports = useMemo(() => reportsNewestFirst(live.state), [live.state]);

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
            <code className="account__id" data-testid="user-id" title={userId}>
              {userId}
            </code>
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
          <button
            type="button"
            className="button button--primary"
            onClick={() => {
              if (!live.creating) void live.create();
            }}
            aria-disabled={live.creating || undefined}
          >
            <span aria-hidden="true" className="button__plus">
              +
            </span>
            {live.creating ? "Creating…" : "Create New Report"}
          </button>
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
  onChange: (reportId: string, status: Status) => Promise<boolean>;
}

function ReportTable({ reports, loaded, failed, changing, onChange }: TableProps) {
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
  onChange,
}: {
  report: Report;
  busy: boolean;
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
    if (busy) return;
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
        <code className="report-id">{report.reportId}</code>
      </td>
      <td data-label="Status">
        <StatusBadge status={report.reportStatus} />
      </td>
      <td data-label="Last change">
        <time dateTime={report.updatedAt} title={formatFullTime(report.updatedAt)}>
          {formatChangeTime(report.updatedAt)}
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
                aria-disabled={busy || undefined}
                data-transition={to}
                title={`Set to ${statusLabel(to)}`}
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
