import { describe, expect, it } from "vitest";
import { initialReportsState, isNewer, reportsNewestFirst, reportsReducer, type ReportsAction, type ReportsState } from "./state";
import type { Report, Status } from "./types";

const USER = "6f1c3b1e-8a43-4a3f-9a66-0c7f2f8f5b10";
const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const C = "00000000-0000-4000-8000-00000000000c";

function at(seconds: number): string {
  return new Date(Date.UTC(2024, 4, 1, 10, 0, seconds)).toISOString();
}

function report(reportId: string, status: Status, created: number, updated = created): Report {
  return { userId: USER, reportId, reportStatus: status, createdAt: at(created), updatedAt: at(updated) };
}

function run(actions: ReportsAction[], state: ReportsState = initialReportsState): ReportsState {
  return actions.reduce(reportsReducer, state);
}

function statuses(state: ReportsState): Record<string, Status> {
  return Object.fromEntries(Object.values(state.byId).map((r) => [r.reportId, r.reportStatus]));
}

/** Freezes a state deeply, so a reducer that mutates it throws. */
function frozen(state: ReportsState): ReportsState {
  for (const r of Object.values(state.byId)) Object.freeze(r);
  Object.freeze(state.byId);
  Object.freeze(state.order);
  Object.freeze(state.early);
  return Object.freeze(state);
}

const update = (id: string, status: Status, seconds: number): ReportsAction => ({
  type: "status_updated",
  update: { id, status, updatedAt: at(seconds) },
});

describe("reportsReducer: list loaded", () => {
  it("starts empty and not loaded", () => {
    expect(initialReportsState.loaded).toBe(false);
    expect(reportsNewestFirst(initialReportsState)).toEqual([]);
  });

  it("marks an empty list as loaded", () => {
    const state = run([{ type: "list_loaded", reports: [] }]);
    expect(state.loaded).toBe(true);
    expect(state.order).toEqual([]);
  });

  it("keeps the reports oldest first and shows them newest first", () => {
    const state = run([
      { type: "list_loaded", reports: [report(B, "queued", 2), report(A, "pending", 1), report(C, "failed", 3)] },
    ]);
    expect(state.order).toEqual([A, B, C]);
    expect(reportsNewestFirst(state).map((r) => r.reportId)).toEqual([C, B, A]);
  });

  it("orders reports created in the same instant by id", () => {
    const state = run([{ type: "list_loaded", reports: [report(B, "pending", 1), report(A, "pending", 1)] }]);
    expect(state.order).toEqual([A, B]);
  });

  it("does not roll back a status that a newer event already set", () => {
    const state = run([
      { type: "report_received", report: report(A, "pending", 1) },
      update(A, "queued", 5),
      // A list fetched before the event, answered after it.
      { type: "list_loaded", reports: [report(A, "pending", 1)] },
    ]);
    expect(statuses(state)).toEqual({ [A]: "queued" });
    expect(state.byId[A]?.updatedAt).toBe(at(5));
  });

  it("takes newer statuses from a list, as after a reconnect or a reset", () => {
    const state = run([
      { type: "list_loaded", reports: [report(A, "pending", 1), report(B, "queued", 2)] },
      { type: "list_loaded", reports: [report(A, "canceled", 1, 9), report(B, "queued", 2), report(C, "pending", 7)] },
    ]);
    expect(statuses(state)).toEqual({ [A]: "canceled", [B]: "queued", [C]: "pending" });
    expect(state.order).toEqual([A, B, C]);
  });

  it("keeps a report created after the list was taken", () => {
    const state = run([
      { type: "report_received", report: report(B, "pending", 8) },
      { type: "list_loaded", reports: [report(A, "pending", 1)] },
    ]);
    expect(state.order).toEqual([A, B]);
  });

  it("returns the same state for a list that changes nothing", () => {
    const loaded = frozen(run([{ type: "list_loaded", reports: [report(A, "pending", 1), report(B, "queued", 2)] }]));
    const again = reportsReducer(loaded, { type: "list_loaded", reports: [report(B, "queued", 2), report(A, "pending", 1)] });
    expect(again).toBe(loaded);
  });
});

describe("reportsReducer: report_created", () => {
  it("adds a new report", () => {
    const state = run([{ type: "list_loaded", reports: [report(A, "pending", 1)] }, { type: "report_received", report: report(B, "pending", 2) }]);
    expect(state.order).toEqual([A, B]);
    expect(state.byId[B]).toEqual(report(B, "pending", 2));
  });

  it("ignores the same report twice (the POST answer and the event)", () => {
    const once = frozen(run([{ type: "report_received", report: report(A, "pending", 1) }]));
    expect(reportsReducer(once, { type: "report_received", report: report(A, "pending", 1) })).toBe(once);
  });

  it("ignores a stale copy of a report that has moved on", () => {
    const moved = frozen(run([{ type: "report_received", report: report(A, "pending", 1) }, update(A, "queued", 3)]));
    expect(reportsReducer(moved, { type: "report_received", report: report(A, "pending", 1) })).toBe(moved);
  });

  it("does not mutate the previous state", () => {
    const before = frozen(run([{ type: "list_loaded", reports: [report(A, "pending", 1)] }]));
    const after = reportsReducer(before, { type: "report_received", report: report(B, "pending", 2) });
    expect(after).not.toBe(before);
    expect(before.order).toEqual([A]);
    expect(Object.keys(before.byId)).toEqual([A]);
  });
});

describe("reportsReducer: report_status_update", () => {
  const base = () => frozen(run([{ type: "list_loaded", reports: [report(A, "pending", 1), report(B, "pending", 2)] }]));

  it("applies a newer status to its report only", () => {
    const before = base();
    const state = reportsReducer(before, update(A, "queued", 4));
    expect(statuses(state)).toEqual({ [A]: "queued", [B]: "pending" });
    expect(state.byId[A]).toEqual(report(A, "queued", 1, 4));
    expect(state.byId[B]).toBe(before.byId[B]);
  });

  it("keeps the order when a status changes", () => {
    const state = reportsReducer(base(), update(A, "queued", 4));
    expect(state.order).toEqual([A, B]);
  });

  it("ignores a duplicate event (a replay after reconnecting)", () => {
    const once = frozen(reportsReducer(base(), update(A, "queued", 4)));
    expect(reportsReducer(once, update(A, "queued", 4))).toBe(once);
  });

  it("ignores an event older than the status shown", () => {
    const state = run([update(A, "queued", 4), update(A, "processing", 6), update(A, "queued", 4)], base());
    expect(state.byId[A]?.reportStatus).toBe("processing");
    const late = frozen(state);
    expect(reportsReducer(late, update(A, "canceled", 5))).toBe(late);
  });

  it("applies events that arrive out of order by their time, not their arrival", () => {
    const state = run([update(A, "processing", 6), update(A, "queued", 4)], base());
    expect(state.byId[A]?.reportStatus).toBe("processing");
    expect(state.byId[A]?.updatedAt).toBe(at(6));
  });

  it("orders two changes in the same instant by the state machine", () => {
    const state = run([update(A, "queued", 4), update(A, "processing", 4)], base());
    expect(state.byId[A]?.reportStatus).toBe("processing");
    const swapped = run([update(A, "processing", 4), update(A, "queued", 4)], run([update(A, "queued", 3)], base()));
    expect(swapped.byId[A]?.reportStatus).toBe("processing");
  });

  it("trusts a newer status even when it skips steps this tab missed", () => {
    const state = reportsReducer(base(), update(A, "completed", 9));
    expect(state.byId[A]?.reportStatus).toBe("completed");
  });

  it("keeps an update for a report not yet known and applies it when the report arrives", () => {
    const early = run([update(C, "queued", 5)], base());
    expect(early.byId[C]).toBeUndefined();
    expect(early.order).toEqual([A, B]);
    const arrived = reportsReducer(early, { type: "report_received", report: report(C, "pending", 3) });
    expect(arrived.byId[C]?.reportStatus).toBe("queued");
    expect(arrived.byId[C]?.updatedAt).toBe(at(5));
    expect(arrived.early).toEqual({});
    expect(arrived.order).toEqual([A, B, C]);
  });

  it("drops a waiting update that is older than the report when it arrives", () => {
    const state = run([update(C, "queued", 2), { type: "list_loaded", reports: [report(C, "processing", 1, 6)] }]);
    expect(state.byId[C]?.reportStatus).toBe("processing");
    expect(state.early).toEqual({});
  });

  it("keeps only the newest waiting update of a report", () => {
    const state = run([update(C, "processing", 6), update(C, "queued", 4)]);
    expect(state.early[C]?.status).toBe("processing");
    const same = frozen(state);
    expect(reportsReducer(same, update(C, "processing", 6))).toBe(same);
  });
});

describe("isNewer", () => {
  it("compares by time first", () => {
    expect(isNewer({ status: "queued", updatedAt: at(1) }, { status: "pending", updatedAt: at(2) })).toBe(true);
    expect(isNewer({ status: "pending", updatedAt: at(2) }, { status: "queued", updatedAt: at(1) })).toBe(false);
  });

  it("breaks ties with the state machine", () => {
    expect(isNewer({ status: "pending", updatedAt: at(1) }, { status: "queued", updatedAt: at(1) })).toBe(true);
    expect(isNewer({ status: "queued", updatedAt: at(1) }, { status: "pending", updatedAt: at(1) })).toBe(false);
    expect(isNewer({ status: "queued", updatedAt: at(1) }, { status: "queued", updatedAt: at(1) })).toBe(false);
  });
});
