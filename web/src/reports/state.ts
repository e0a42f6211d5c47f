import { canTransition } from "./transitions";
import { compareTimestamps } from "./time";
import type { Report, Status, StatusUpdate } from "./types";

/** The reports of one user as this tab knows them. Never mutated: every change makes a new
 *  object, and an action that changes nothing returns the very same state. */
export interface ReportsState {
  readonly byId: Readonly<Record<string, Report>>;
  /** Report ids, oldest first (createdAt, then id). */
  readonly order: readonly string[];
  /** Status updates that arrived before their report did (an event overtaking the list). */
  readonly early: Readonly<Record<string, StatusUpdate>>;
  /** True once a list from GET /v4/reports has been applied. */
  readonly loaded: boolean;
}

export type ReportsAction =
  /** GET /v4/reports answered: a snapshot, possibly older than events already applied. */
  | { type: "list_loaded"; reports: readonly Report[] }
  /** A whole report: an `event: report_created`, or the answer to POST or PUT. */
  | { type: "report_received"; report: Report }
  /** An `event: report_status_update`. */
  | { type: "status_updated"; update: StatusUpdate };

export const initialReportsState: ReportsState = { byId: {}, order: [], early: {}, loaded: false };

export interface Version {
  status: Status;
  updatedAt: string;
}

function versionOf(report: Report): Version {
  return { status: report.reportStatus, updatedAt: report.updatedAt };
}

/** Whether `incoming` is a later version of a report than `current`. Events can arrive twice
 *  (replay after a reconnect, relay plus an HTTP answer) or late (a list fetched before an event
 *  but answered after it); only a strictly later version may replace what is shown. Two versions
 *  with the same timestamp are ordered by the state machine: the one reachable from the other
 *  is the later one. */
export function isNewer(current: Version, incoming: Version): boolean {
  const order = compareTimestamps(incoming.updatedAt, current.updatedAt);
  if (order !== 0) return order > 0;
  if (incoming.status === current.status) return false;
  return canTransition(current.status, incoming.status);
}

function compareReports(a: Report, b: Report): number {
  return compareTimestamps(a.createdAt, b.createdAt) || (a.reportId < b.reportId ? -1 : a.reportId > b.reportId ? 1 : 0);
}

function without<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const copy = { ...record };
  delete copy[key];
  return copy;
}

/** Merges reports into the state. Returns the same state when nothing changed. */
function mergeReports(state: ReportsState, reports: readonly Report[]): ReportsState {
  let byId: Record<string, Report> | null = null; // copied on the first change
  let early = state.early;
  let added = false;
  for (const incoming of reports) {
    const id = incoming.reportId;
    const current = (byId ?? state.byId)[id];
    let next: Report | undefined;
    if (!current) {
      next = incoming;
      added = true;
    } else if (isNewer(versionOf(current), versionOf(incoming))) {
      next = incoming;
    }
    const waiting = early[id];
    if (waiting) {
      const base = next ?? current ?? incoming;
      if (isNewer(versionOf(base), waiting)) next = { ...base, reportStatus: waiting.status, updatedAt: waiting.updatedAt };
      early = without(early, id);
    }
    if (next) {
      byId ??= { ...state.byId };
      byId[id] = next;
    }
  }
  if (!byId && early === state.early) return state;
  const merged = byId ?? state.byId;
  const order = added
    ? Object.values(merged)
        .sort(compareReports)
        .map((r) => r.reportId)
    : state.order;
  return { ...state, byId: merged, order, early };
}

function applyStatusUpdate(state: ReportsState, update: StatusUpdate): ReportsState {
  const current = state.byId[update.id];
  if (!current) {
    const waiting = state.early[update.id];
    if (waiting && !isNewer(waiting, update)) return state;
    return { ...state, early: { ...state.early, [update.id]: update } };
  }
  if (!isNewer(versionOf(current), update)) return state;
  const next: Report = { ...current, reportStatus: update.status, updatedAt: update.updatedAt };
  return { ...state, byId: { ...state.byId, [update.id]: next } };
}

export function reportsReducer(state: ReportsState, action: ReportsAction): ReportsState {
  switch (action.type) {
    case "list_loaded": {
      const merged = mergeReports(state, action.reports);
      return merged.loaded ? merged : { ...merged, loaded: true };
    }
    case "report_received":
      return mergeReports(state, [action.report]);
    case "status_updated":
      return applyStatusUpdate(state, action.update);
  }
}

/** The reports in display order: newest first, so a new report appears at the top. */
export function reportsNewestFirst(state: ReportsState): Report[] {
  const list: Report[] = [];
  for (let i = state.order.length - 1; i >= 0; i--) {
    const report = state.byId[state.order[i]!];
    if (report) list.push(report);
  }
  return list;
}
