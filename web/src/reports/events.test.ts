import { describe, expect, it } from "vitest";
import { effectOfEvent } from "./events";

const REPORT = {
  userId: "6f1c3b1e-8a43-4a3f-9a66-0c7f2f8f5b10",
  reportId: "00000000-0000-4000-8000-00000000000a",
  reportStatus: "pending",
  createdAt: "2024-05-01T10:00:00Z",
  updatedAt: "2024-05-01T10:00:00Z",
};

describe("effectOfEvent", () => {
  it("turns report_created into a received report", () => {
    expect(effectOfEvent("report_created", JSON.stringify(REPORT))).toEqual({
      kind: "apply",
      action: { type: "report_received", report: REPORT },
    });
  });

  it("turns report_status_update into a status update", () => {
    const data = { id: REPORT.reportId, status: "queued", updatedAt: "2024-05-01T10:00:02Z" };
    expect(effectOfEvent("report_status_update", JSON.stringify(data))).toEqual({
      kind: "apply",
      action: { type: "status_updated", update: data },
    });
  });

  it("asks for a refetch on reset", () => {
    expect(effectOfEvent("reset", JSON.stringify({ reason: "history_truncated" }))).toEqual({ kind: "refetch" });
    expect(effectOfEvent("reset", "")).toEqual({ kind: "refetch" });
  });

  it("ignores malformed data rather than showing a broken row", () => {
    expect(effectOfEvent("report_created", "{not json")).toEqual({ kind: "ignore" });
    expect(effectOfEvent("report_created", JSON.stringify({ ...REPORT, reportStatus: "done" }))).toEqual({ kind: "ignore" });
    expect(effectOfEvent("report_created", JSON.stringify({ ...REPORT, reportId: 7 }))).toEqual({ kind: "ignore" });
    expect(effectOfEvent("report_status_update", JSON.stringify({ id: REPORT.reportId, status: "queued" }))).toEqual({
      kind: "ignore",
    });
    expect(effectOfEvent("report_status_update", "null")).toEqual({ kind: "ignore" });
  });

  it("ignores unknown event types", () => {
    expect(effectOfEvent("message", "hi!")).toEqual({ kind: "ignore" });
  });
});
