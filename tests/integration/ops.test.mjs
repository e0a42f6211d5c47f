// /healthz, /readyz and /metrics: the answers, and metric values that move with traffic.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import {
  BINARY, curl, eventually, haveCurl, metrics, metricsEventually, publish, publishOk, request, run,
  showServerLogsOnFailure, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };

const REQUIRED = [
  "ssehub_streams_open",
  "ssehub_users_connected",
  "ssehub_events_accepted_total",
  "ssehub_events_delivered_total",
  "ssehub_resumes_total",
  "ssehub_resets_total",
  "ssehub_queue_overflows_total",
  "ssehub_request_body_bytes_buffered",
  "process_open_fds",
  "process_max_fds",
];
const REASONS = ["bad_request", "not_found", "method_not_allowed", "body_too_large", "headers_too_large",
                 "too_many_streams", "timeout"];

describe("operations endpoints", () => {
  let server;
  before(async () => {
    server = await startServer(["--history-max-events", "2", "--max-streams-per-user", "2"]);
  });
  after(() => server?.dispose());

  it("HealthzAnswers200StatusOk", T, async () => {
    const res = await request(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^application\/json/);
    assert.deepEqual(res.json, { status: "ok" });
  });

  it("HealthzAnswersCurl", CURL, async () => {
    const res = await curl(["-s", "-w", "\\n%{http_code}", `${server.url}/healthz`]);
    assert.equal(res.code, 0);
    const [body, code] = res.stdout.split("\n");
    assert.equal(code, "200");
    assert.deepEqual(JSON.parse(body), { status: "ok" });
  });

  it("LongLivedThreadsAreNamedForProfilesAndTop", T, async () => {
    // perf and `top -H` tell history's threads from an I/O thread by these names (the
    // default segment log: the trimmer, and the thread that flushes and compacts its journal).
    const tasks = `/proc/${server.proc.pid}/task`;
    const names = await Promise.all((await fs.readdir(tasks)).map((t) => fs.readFile(`${tasks}/${t}/comm`, "utf8")));
    const named = new Set(names.map((n) => n.trim()));
    for (const name of ["ssehub-io-0", "ssehub-io-1", "history-trim", "history-flush", "store-0"]) {
      assert.ok(named.has(name), `no thread named ${name} among ${[...named].join(", ")}`);
    }
  });

  it("ReadyzAnswers200StatusReady", T, async () => {
    const res = await request(`${server.url}/readyz`);
    assert.equal(res.status, 200);
    assert.equal(res.json?.status, "ready");
  });

  it("ReadyzAndMetricsAnswerCurl", CURL, async () => {
    const ready = await curl(["-s", "-w", "\\n%{http_code}", `${server.url}/readyz`]);
    const [body, code] = ready.stdout.split("\n");
    assert.equal(code, "200");
    assert.equal(JSON.parse(body).status, "ready");
    const scrape = await curl(["-s", "-i", `${server.url}/metrics`]);
    assert.match(scrape.stdout, /^HTTP\/1\.1 200 /);
    assert.match(scrape.stdout, /\r\nContent-Type: text\/plain/i);
    assert.match(scrape.stdout, /^ssehub_streams_open\{protocol="http\/1.1"\} \d+$/m);
    assert.match(scrape.stdout, /^ssehub_requests_rejected_total\{reason="bad_request"\} \d+$/m);
  });

  it("MetricsExposeEveryRequiredSeriesAsPrometheusText", T, async () => {
    const m = await metrics(server.url);
    assert.match(m.contentType, /^text\/plain/);
    for (const name of REQUIRED) {
      assert.ok(Number.isFinite(m.get(name)), `missing ${name}`);
      assert.match(m.text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"));
    }
    for (const reason of REASONS) {
      assert.ok(Number.isFinite(m.get("ssehub_requests_rejected_total", { reason })), `missing rejected reason ${reason}`);
    }
    assert.ok(Number.isFinite(m.get("ssehub_accept_to_write_seconds_bucket", { le: "+Inf" })), "missing histogram");
    assert.match(m.text, /^# TYPE ssehub_accept_to_write_seconds histogram$/m);
    const buckets = [...m.keys()].filter((k) => k.startsWith("ssehub_accept_to_write_seconds_bucket"));
    assert.ok(buckets.length >= 3, "histogram has buckets");
    const counts = buckets.map((k) => m.get(k));
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "buckets are cumulative");
  });

  it("MetricsCountStreamsUsersEventsAndDeliveries", T, async () => {
    const before = await metrics(server.url);
    const alice = uniqueUser("m-alice");
    const bob = uniqueUser("m-bob");
    const streams = [await sse(`${server.url}/v2/sse?username=${alice}`),
                     await sse(`${server.url}/v2/sse?username=${alice}`),
                     await sse(`${server.url}/v2/sse?username=${bob}`)];
    try {
      await metricsEventually(server.url, (m) =>
        m.get("ssehub_streams_open") === before.get("ssehub_streams_open") + 3 &&
        m.get("ssehub_users_connected") === before.get("ssehub_users_connected") + 2, { what: "3 streams, 2 users" });
      await publishOk(server.url, alice, "to alice");
      await publishOk(server.url, bob, "to bob");
      for (const s of streams) await s.waitEvents(1);
      const m = await metricsEventually(server.url, (m) =>
        m.get("ssehub_events_delivered_total") === before.get("ssehub_events_delivered_total") + 3,
      { what: "3 deliveries" });
      assert.equal(m.get("ssehub_events_accepted_total") - before.get("ssehub_events_accepted_total"), 2);
      const inf = { le: "+Inf" };
      assert.equal(m.get("ssehub_accept_to_write_seconds_bucket", inf) -
                   before.get("ssehub_accept_to_write_seconds_bucket", inf), 3,
                   "every live delivery is observed in the latency histogram");
      assert.ok(m.get("ssehub_accept_to_write_seconds_sum") > before.get("ssehub_accept_to_write_seconds_sum"));
    } finally {
      for (const s of streams) s.close();
    }
    await metricsEventually(server.url, (m) =>
      m.get("ssehub_streams_open") === before.get("ssehub_streams_open") &&
      m.get("ssehub_users_connected") === before.get("ssehub_users_connected"), { what: "gauges back down" });
  });

  it("HeapGaugesFollowWhatTheServerHolds", T, async () => {
    // Read from the allocator the binary uses (tcmalloc, or the sanitizers' own under them):
    // asking another one (glibc's mallinfo2) answers about an empty heap that never grows.
    const before = await metrics(server.url);
    const message = "x".repeat(4096);
    const users = Array.from({ length: 500 }, () => uniqueUser("heap"));
    for (let i = 0; i < users.length; i += 50)  // history keeps 2 a user: 4 MB in all
      await Promise.all(users.slice(i, i + 50).flatMap((u) => [publishOk(server.url, u, message),
                                                                publishOk(server.url, u, message)]));
    const after = await metrics(server.url);
    const grown = after.get("ssehub_heap_in_use_bytes") - before.get("ssehub_heap_in_use_bytes");
    assert.ok(grown >= 3 * 2 ** 20, `heap in use grew ${grown} bytes while history took 4 MB`);
    for (const name of ["ssehub_heap_in_use_bytes", "ssehub_heap_free_bytes"])
      assert.ok(Number.isFinite(after.get(name)) && after.get(name) >= 0, `${name} = ${after.get(name)}`);
  });

  it("MetricsCountResumesAndResets", T, async () => {
    const user = uniqueUser("m-resume");
    for (let i = 0; i < 4; i++) await publishOk(server.url, user, `m${i}`); // history keeps 2
    const before = await metrics(server.url);
    const resumed = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { "Last-Event-ID": "3" } });
    const reset = await sse(`${server.url}/v2/sse?username=${user}&lastEventId=1`);
    try {
      await resumed.waitEvents(1);
      await reset.waitEvents(1, { type: "reset" });
      const m = await metricsEventually(server.url, (m) =>
        m.get("ssehub_resumes_total") === before.get("ssehub_resumes_total") + 2 &&
        m.get("ssehub_resets_total") === before.get("ssehub_resets_total") + 1 &&
        m.get("ssehub_events_delivered_total") >= before.get("ssehub_events_delivered_total") + 3,
      { what: "2 resumes, 1 reset, 3 deliveries" });
      // Replayed events are deliveries too: 1 + 2 messages (the reset frame may count as well).
      const delivered = m.get("ssehub_events_delivered_total") - before.get("ssehub_events_delivered_total");
      assert.ok(delivered >= 3 && delivered <= 4, `delivered +${delivered}, expected 3 messages (+1 reset)`);
    } finally {
      resumed.close();
      reset.close();
    }
  });

  it("MetricsCountRejectedRequestsByReason", T, async () => {
    const before = await metrics(server.url);
    const user = uniqueUser("m-reject");
    assert.equal((await request(`${server.url}/v2/sse`)).status, 400);
    assert.equal((await publish(server.url, user, "")).status, 400);
    assert.equal((await request(`${server.url}/v2/nothing-here`)).status, 404);
    assert.equal((await request(`${server.url}/v2/message?username=x`)).status, 405);
    assert.equal((await publish(server.url, user, "x".repeat(64 * 1024 + 1))).status, 413);
    const held = [await sse(`${server.url}/v2/sse?username=${user}`), await sse(`${server.url}/v2/sse?username=${user}`)];
    const third = await sse(`${server.url}/v2/sse?username=${user}`);
    held.forEach((s) => s.close());
    assert.equal(third.status, 429);
    const m = await metrics(server.url);
    const delta = (reason) => m.get("ssehub_requests_rejected_total", { reason }) -
                              before.get("ssehub_requests_rejected_total", { reason });
    assert.equal(delta("bad_request"), 2);
    assert.equal(delta("not_found"), 1);
    assert.equal(delta("method_not_allowed"), 1);
    assert.equal(delta("body_too_large"), 1);
    assert.equal(delta("too_many_streams"), 1);
  });

  it("ReadinessIsAGaugePerCheckAndANotReadyAnswerIsNoRefusal", T, async () => {
    const m = await metrics(server.url);
    assert.equal(m.get("ssehub_ready", { check: "history" }), 1);
    assert.equal(m.get("ssehub_ready", { check: "store" }), 1);
    assert.ok(m.get("process_open_fds") > 3 && m.get("process_open_fds") < m.get("process_max_fds"));
    assert.match(m.text, /^# HELP ssehub_ready /m);
  });
});

describe("version and start-up line", () => {
  it("VersionPrintsTheVersionAndCommitAndExits", T, async () => {
    const res = await run(BINARY, ["--version"]);
    assert.equal(res.code, 0);
    assert.match(res.stdout.trim(), /^ssehub \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,}(-dirty)?|unknown)\)$/);
  });

  it("TheStartUpLogSaysWhichStoresBusAndAuthAreActive", T, async () => {
    const server = await startServer(["--history-store", "memory", "--publish-token", "t0ken"]);
    try {
      // The port file is written after the start-up lines, but the log reaches us through a pipe.
      const modes = /history: .*reports: .*bus: .*kafka ingestion: .*auth: /;
      await eventually(() => server.logMatching(modes).length > 0,
                       { timeout: 5_000, what: "the start-up line naming the modes" });
      const [line] = server.logMatching(modes);
      assert.match(line, /history: memory .* reports: sqlite; bus: local; kafka ingestion: off; auth: none .*publish token/);
      assert.equal(server.logMatching(/ssehub \d+\.\d+\.\d+ \(\S+\) listening on http:\/\/127\.0\.0\.1:\d+/).length, 1);
    } finally {
      await server.dispose();
    }
  });
});

describe("readiness while the disk refuses writes", () => {
  it("ANotReadyAnswerIsNotCountedAsARefusedRequest", T, async () => {
    // A readiness probe that fails is the probe's answer; counting it among refused requests
    // would bury real refusals under one per probe.
    const server = await startServer(["--store", "dynamodb", "--dynamodb-endpoint", "http://127.0.0.1:9",
                                      "--store-timeout-ms", "200"]);
    try {
      const before = await metrics(server.url);
      let answer;
      await eventually(async () => (answer = await request(`${server.url}/readyz`)).status === 503,
                       { timeout: 15_000, what: "/readyz to say not ready" });
      for (let i = 0; i < 5; i++) assert.equal((await request(`${server.url}/readyz`)).status, 503);
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_requests_rejected_total", { reason: "unavailable" }),
                   before.get("ssehub_requests_rejected_total", { reason: "unavailable" }));
      assert.equal(m.get("ssehub_ready", { check: "store" }), 0);
      assert.equal(answer.json.checks.store, "unavailable");
    } finally {
      await server.dispose();
    }
  });
});
