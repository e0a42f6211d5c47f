// Wire types of the v4 report API and its SSE events.

export const STATUSES = [
  "pending",
  "queued",
  "processing",
  "canceled",
  "failed",
  "completed",
] as const;

export type Status = (typeof STATUSES)[number];

export interface Report {
  userId: string;
  reportId: string;
  reportStatus: Status;
  createdAt: string;
  updatedAt: string;
}

/** Data of an `event: report_status_update`. */
export interface StatusUpdate {
  id: string;
  status: Status;
  updatedAt: string;
}

export function isStatus(value: unknown): value is Status {
  return typeof value === "string" && (STATUSES as readonly string[]).includes(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/** Checks a report from the server; returns null when it does not have the expected shape. */
export function parseReport(value: unknown): Report | null {
  if (!isObject(value)) return null;
  const { userId, reportId, reportStatus, createdAt, updatedAt } = value;
  if (!isString(userId) || !isString(reportId) || !isStatus(reportStatus)) return null;
  if (!isString(createdAt) || !isString(updatedAt)) return null;
  return { userId, reportId, reportStatus, createdAt, updatedAt };
}

export function parseStatusUpdate(value: unknown): StatusUpdate | null {
  if (!isObject(value)) return null;
  const { id, status, updatedAt } = value;
  if (!isString(id) || !isStatus(status) || !isString(updatedAt)) return null;
  return { id, status, updatedAt };
}
