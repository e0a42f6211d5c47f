import type { ReportsAction } from "./state";
import { parseReport, parseStatusUpdate } from "./types";

/** What one SSE event asks of the page: a state change, a refetch of the list, or nothing. */
export type EventEffect = { kind: "apply"; action: ReportsAction } | { kind: "refetch" } | { kind: "ignore" };

export const STREAM_EVENTS = ["report_created", "report_status_update", "reset"] as const;

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

export function effectOfEvent(type: string, data: string): EventEffect {
  switch (type) {
    case "report_created": {
      const report = parseReport(parseJson(data));
      return report ? { kind: "apply", action: { type: "report_received", report } } : { kind: "ignore" };
    }
    case "report_status_update": {
      const update = parseStatusUpdate(parseJson(data));
      return update ? { kind: "apply", action: { type: "status_updated", update } } : { kind: "ignore" };
    }
    case "reset":
      // The server could not replay what this stream missed: only a fresh list is complete.
      return { kind: "refetch" };
    default:
      return { kind: "ignore" };
  }
}
