import type { Status } from "./types";

const STATUS_LABELS: Record<Status, string> = {
  pending: "Pending",
  queued: "Queued",
  processing: "Processing",
  canceled: "Canceled",
  failed: "Failed",
  completed: "Completed",
};

export function statusLabel(status: Status): string {
  return STATUS_LABELS[status];
}
