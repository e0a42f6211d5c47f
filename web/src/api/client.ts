// Calls to the v4 API. Every URL is relative: the page talks to the origin that served it.

import { parseReport, type Report, type Status } from "../reports/types";

/** A failed call, with a sentence fit to show the user. `status` is 0 when no answer came. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = "http_error";
  let detail = "";
  try {
    const body: unknown = await response.json();
    if (typeof body === "object" && body !== null) {
      const { error, detail: text } = body as Record<string, unknown>;
      if (typeof error === "string") code = error;
      if (typeof text === "string") detail = text;
    }
  } catch {
    // not a JSON error body (a proxy's error page, say): fall back to the status line
  }
  if (!detail) {
    detail =
      response.status === 503
        ? "The server is temporarily unavailable. Try again in a moment."
        : `The server answered ${response.status} ${response.statusText}`.trim() + ".";
  }
  return new ApiError(response.status, code, detail);
}

async function call(path: string, init: RequestInit = {}): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { Accept: "application/json", ...init.headers } });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "Could not reach the server. Check your connection and try again.");
  }
  if (!response.ok) throw await errorFrom(response);
  try {
    return await response.json();
  } catch {
    throw new ApiError(response.status, "bad_response", "The server sent an answer this page cannot read.");
  }
}

function asReport(value: unknown): Report {
  const report = parseReport(value);
  if (!report) throw new ApiError(200, "bad_response", "The server sent a report this page cannot read.");
  return report;
}

function userQuery(userId: string): string {
  return `user_id=${encodeURIComponent(userId)}`;
}

export async function listReports(userId: string, signal?: AbortSignal): Promise<Report[]> {
  const body = await call(`/v4/reports?${userQuery(userId)}`, signal ? { signal } : {});
  if (!Array.isArray(body)) throw new ApiError(200, "bad_response", "The server sent a list this page cannot read.");
  return body.map(asReport);
}

export async function createReport(userId: string): Promise<Report> {
  return asReport(await call(`/v4/new/report?${userQuery(userId)}`, { method: "POST" }));
}

export async function updateReportStatus(userId: string, reportId: string, status: Status): Promise<Report> {
  const body = await call(`/v4/report?${userQuery(userId)}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: reportId, status }),
  });
  return asReport(body);
}
