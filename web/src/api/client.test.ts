import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, createReport, listReports, updateReportStatus } from "./client";

const USER = "6f1c3b1e-8a43-4a3f-9a66-0c7f2f8f5b10";
const REPORT = {
  userId: USER,
  reportId: "00000000-0000-4000-8000-00000000000a",
  reportStatus: "pending",
  createdAt: "2024-05-01T10:00:00Z",
  updatedAt: "2024-05-01T10:00:00Z",
};

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function stubFetch(answer: () => Response | Promise<Response>) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit) => answer());
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error("expected the call to fail");
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("API client", () => {
  it("lists reports with a same-origin relative URL", async () => {
    const fetch = stubFetch(() => json(200, [REPORT]));
    await expect(listReports(USER)).resolves.toEqual([REPORT]);
    expect(fetch.mock.calls[0]?.[0]).toBe(`/v4/reports?user_id=${USER}`);
  });

  it("creates a report with a bodiless POST", async () => {
    const fetch = stubFetch(() => json(201, REPORT));
    await expect(createReport(USER)).resolves.toEqual(REPORT);
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe(`/v4/new/report?user_id=${USER}`);
    expect(init?.method).toBe("POST");
    expect(init?.body).toBeUndefined();
  });

  it("changes a status with a JSON PUT", async () => {
    const fetch = stubFetch(() => json(200, { ...REPORT, reportStatus: "queued" }));
    const report = await updateReportStatus(USER, REPORT.reportId, "queued");
    expect(report.reportStatus).toBe("queued");
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe(`/v4/report?user_id=${USER}`);
    expect(init?.method).toBe("PUT");
    expect((init?.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
    expect(JSON.parse(String(init?.body))).toEqual({ id: REPORT.reportId, status: "queued" });
  });

  it("reports the server's detail sentence on an error", async () => {
    stubFetch(() => json(409, { error: "invalid_transition", detail: "A completed report cannot change." }));
    const error = await failure(updateReportStatus(USER, REPORT.reportId, "pending"));
    expect(error.status).toBe(409);
    expect(error.code).toBe("invalid_transition");
    expect(error.message).toBe("A completed report cannot change.");
  });

  it("explains an error that has no JSON body", async () => {
    stubFetch(() => new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    const error = await failure(listReports(USER));
    expect(error.status).toBe(502);
    expect(error.message).toContain("502");
    stubFetch(() => new Response("", { status: 503 }));
    expect((await failure(createReport(USER))).message).toMatch(/temporarily unavailable/);
  });

  it("turns a network failure into a readable error", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    const error = await failure(listReports(USER));
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/Could not reach the server/);
  });

  it("rejects an answer of the wrong shape", async () => {
    stubFetch(() => json(200, { reports: [] }));
    expect((await failure(listReports(USER))).code).toBe("bad_response");
    stubFetch(() => json(201, { ...REPORT, reportStatus: "unknown" }));
    expect((await failure(createReport(USER))).code).toBe("bad_response");
  });
});
