import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { ApiError, createReport, listReports, updateReportStatus } from "../api/client";
import { connectLive, type ConnectionState, type LiveRole } from "../live/stream";
import { effectOfEvent } from "./events";
import { shortId } from "./format";
import { statusLabel } from "./labels";
import { addNotice, withoutNotice, withoutUnreachable, type Notice } from "./notices";
import { initialReportsState, reportsReducer, type ReportsState } from "./state";
import type { Status } from "./types";

export interface LiveReports {
  state: ReportsState;
  connection: ConnectionState;
  role: LiveRole;
  /** Why the list could not be loaded, until a load succeeds. */
  loadError: string | null;
  notices: readonly Notice[];
  creating: boolean;
  /** Reports with a status change in flight. */
  changing: ReadonlySet<string>;
  create(): Promise<void>;
  changeStatus(reportId: string, status: Status): Promise<boolean>;
  reload(): void;
  dismiss(id: number): void;
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** The reports of one user, kept current by the live stream. */
export function useLiveReports(userId: string): LiveReports {
  const [state, dispatch] = useReducer(reportsReducer, initialReportsState);
  const [connection, setConnection] = useState<ConnectionState>("connecting");
  const [role, setRole] = useState<LiveRole>("solo");
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notices, setNotices] = useState<readonly Notice[]>([]);
  const [creating, setCreating] = useState(false);
  const [changing, setChanging] = useState<ReadonlySet<string>>(() => new Set());
  const reloadRef = useRef<() => void>(() => {});
  const noticeId = useRef(0);

  const notify = useCallback((title: string, error: unknown) => {
    const unreachable = error instanceof ApiError && error.status === 0;
    const notice = { id: ++noticeId.current, title, detail: describe(error), unreachable };
    setNotices((list) => addNotice(list, notice));
  }, []);

  useEffect(() => {
    let active = true;
    let running = false;
    let again = false;
    const aborter = new AbortController();

    // One list request at a time; a reload asked for meanwhile runs once more afterwards,
    // since the answer in flight may predate the change that asked for it.
    const load = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          try {
            const reports = await listReports(userId, aborter.signal);
            if (!active) return;
            dispatch({ type: "list_loaded", reports });
            setLoadError(null);
          } catch (error) {
            if (!active || isAbort(error)) return;
            setLoadError(describe(error));
          }
        } while (again && active);
      } finally {
        running = false;
      }
    };
    reloadRef.current = () => void load();
    void load();

    const stop = connectLive(userId, (message) => {
      if (!active) return;
      switch (message.kind) {
        case "role":
          setRole(message.role);
          break;
        case "state":
          setConnection(message.state);
          // Connected again: "could not reach the server" is no longer true.
          if (message.state === "live") setNotices(withoutUnreachable);
          break;
        case "resync":
          void load();
          break;
        case "event": {
          const effect = effectOfEvent(message.type, message.data);
          if (effect.kind === "apply") dispatch(effect.action);
          else if (effect.kind === "refetch") void load();
          break;
        }
      }
    });

    return () => {
      active = false;
      aborter.abort();
      stop();
    };
  }, [userId]);

  const create = useCallback(async () => {
    setCreating(true);
    try {
      const report = await createReport(userId);
      dispatch({ type: "report_received", report });
    } catch (error) {
      notify("Could not create a report", error);
    } finally {
      setCreating(false);
    }
  }, [userId, notify]);

  const changeStatus = useCallback(
    async (reportId: string, status: Status) => {
      setChanging((set) => new Set(set).add(reportId));
      try {
        const report = await updateReportStatus(userId, reportId, status);
        dispatch({ type: "report_received", report });
        return true;
      } catch (error) {
        notify(`Could not set report ${shortId(reportId)} to ${statusLabel(status)}`, error);
        // The report changed elsewhere, or is gone: show what the server has now.
        if (error instanceof ApiError && (error.status === 409 || error.status === 404)) reloadRef.current();
        return false;
      } finally {
        setChanging((set) => {
          const next = new Set(set);
          next.delete(reportId);
          return next;
        });
      }
    },
    [userId, notify],
  );

  const reload = useCallback(() => reloadRef.current(), []);
  const dismiss = useCallback((id: number) => setNotices((list) => withoutNotice(list, id)), []);

  return { state, connection, role, loadError, notices, creating, changing, create, changeStatus, reload, dismiss };
}
