// Chaos: the DynamoDB store (dynalite) dies and comes back while v4 clients create reports
// and change their status. During the outage writes get 503, never a success that was not
// stored; afterwards every acknowledged change is in the store and its event reaches the
// resuming client exactly once, also after the recovery sweep (every 30 s) has looked at
// what the outage left behind.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  PrivateDynalite, ResumingSubscriber, createReportTable, keepAliveAgent, readyz, readyzBecomes, request, scanAll,
  showServerLogsOnFailure, sleep, startServer,
} from "./lib/chaos.mjs";

showServerLogsOnFailure();

// The report service sweeps for unpublished events 30 s after start and every 30 s after,
// leaving changes younger than 5 s alone (src/app/main.cpp, src/reports/report_service.cpp).
const SWEEP_MS = 30_000;
const SWEEP_GRACE_MS = 5_000;
// Each report goes round a cycle the state machine allows, so it can change for ever.
const NEXT = { pending: "queued", queued: "processing", processing: "failed", failed: "pending" };

/**
 * One client of one user: creates reports and moves them round the cycle, recording every
 * acknowledged change in order. A report whose request failed is "uncertain" (the change may
 * or may not have been applied) and is left alone from then on.
 */
function reportWorker(server, userId, agent) {
  const state = { userId, changes: [], uncertain: [], outcomes: new Map(), reports: new Map(), stopped: false };
  const note = (kind) => state.outcomes.set(kind, (state.outcomes.get(kind) ?? 0) + 1);
  const call = async (method, path, body) => {
    try {
      const res = await request(`${server.url}${path}`, {
        method, agent, timeout: 15_000, body: body && JSON.stringify(body),
        headers: body ? { "Content-Type": "application/json" } : {},
      });
      note(`${method} ${res.status}`);
      return res;
    } catch (e) {
      note(`${method} ${e.code ?? "no-answer"}`);
      return null;
    }
  };
  state.loop = (async () => {
    for (let i = 0; !state.stopped; i++) {
      const live = [...state.reports.values()];
      if (live.length < 3 || i % 5 === 0) {
        const res = await call("POST", `/v4/new/report?user_id=${userId}`);
        if (res?.status === 201) {
          const r = res.json;
          state.reports.set(r.reportId, { id: r.reportId, status: r.reportStatus });
          state.changes.push({ kind: "report_created", id: r.reportId, status: r.reportStatus, updatedAt: r.updatedAt });
        } else {
          state.uncertain.push({ kind: "report_created" });
          await sleep(50);
        }
        continue;
      }
      const report = live[i % live.length];
      const to = NEXT[report.status];
      const res = await call("PUT", `/v4/report?user_id=${userId}`, { id: report.id, status: to });
      if (res?.status === 200) {
        report.status = res.json.reportStatus;
        state.changes.push({ kind: "report_status_update", id: report.id, status: to, updatedAt: res.json.updatedAt });
      } else {
        state.reports.delete(report.id);
        state.uncertain.push({ kind: "report_status_update", id: report.id, status: to });
        await sleep(50);
      }
    }
  })();
  state.stop = async () => {
    state.stopped = true;
    await state.loop;
  };
  return state;
}

/** The events of a v4 stream as {kind, id, status, updatedAt, eventId}. */
function reportEvents(sub) {
  return sub.events.map((e) => {
    const data = JSON.parse(e.data);
    return e.type === "report_created"
      ? { kind: e.type, id: data.reportId, status: data.reportStatus, updatedAt: data.updatedAt, eventId: e.id }
      : { kind: e.type, id: data.id, status: data.status, updatedAt: data.updatedAt, eventId: e.id };
  });
}

const keyOf = (c) => `${c.kind} ${c.id} ${c.status} ${c.updatedAt}`;

describe("DynamoDB outage under v4 load", () => {
  let dynalite;
  let server;
  before(async () => {
    dynalite = await PrivateDynalite.create();
    await dynalite.start();
  }, { timeout: 200_000 });
  after(async () => {
    await server?.dispose();
    await dynalite?.stop();
  });

  it("WritesGet503DuringTheOutageAndEveryAcknowledgedChangeIsStoredAndDeliveredOnce", { timeout: 120_000 }, async () => {
    const table = `chaos_reports_${process.pid}_${Date.now().toString(36)}`;
    await createReportTable(dynalite.endpoint, table);
    server = await startServer(["--store", "dynamodb", "--dynamodb-endpoint", dynalite.endpoint,
                                "--dynamodb-table", table, "--store-timeout-ms", "1000"]);
    const startedAt = Date.now();
    await readyzBecomes(server, 200, { timeout: 10_000 });
    const users = [1, 2, 3].map(() => randomUUID());
    const subscribers = new Map();
    for (const user of users) {
      subscribers.set(user, await new ResumingSubscriber(() => `${server.url}/v4/sse?user_id=${user}`,
                                                         { from: 0, name: `v4 ${user}` }).start());
    }
    const agent = keepAliveAgent(8);
    const workers = users.map((user) => reportWorker(server, user, agent));
    const problems = [];
    try {
      await sleep(3_000);
      // The outage outlasts the store timeout (1 s), so no call survives it by retrying.
      await dynalite.stop("SIGKILL");
      const during = await readyzBecomes(server, 503, { timeout: 8_000 }).catch(async () => (await readyz(server)).json);
      if (during?.checks?.store !== "unavailable") problems.push(`/readyz during the outage: ${JSON.stringify(during)}`);
      // Subscribers drop their streams during the outage and resume by id.
      for (const sub of subscribers.values()) sub.drop();
      await sleep(1_500);
      await dynalite.start();
      await readyzBecomes(server, 200, { timeout: 10_000 });
      await sleep(3_000);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      agent.destroy();
    }
    const outcomes = {};
    for (const w of workers) for (const [k, v] of w.outcomes) outcomes[k] = (outcomes[k] ?? 0) + v;
    for (const kind of Object.keys(outcomes)) {
      assert.match(kind, /^(POST 201|PUT 200|POST 503|PUT 503)$/, `a request ended in ${kind}: ${JSON.stringify(outcomes)}`);
    }
    assert.ok((outcomes["POST 503"] ?? 0) + (outcomes["PUT 503"] ?? 0) > 0, `no write was refused during the outage: ${JSON.stringify(outcomes)}`);

    // Let the recovery sweep look at everything the outage left, then collect the events.
    const sweepAt = startedAt + Math.ceil((Date.now() + SWEEP_GRACE_MS - startedAt) / SWEEP_MS) * SWEEP_MS;
    await sleep(Math.max(0, sweepAt - Date.now()) + 4_000);

    const stored = new Map();
    for (const item of await scanAll(dynalite.endpoint, table)) {
      stored.set(item.report_id.S, { status: item.status.S, updatedAt: item.updated_at.S, userId: item.user_id.S });
    }
    let acknowledged = 0;
    for (const w of workers) {
      const sub = subscribers.get(w.userId);
      const events = reportEvents(sub);
      acknowledged += w.changes.length;
      // Stored: the last acknowledged change of each report is what the store holds, unless a
      // later request of that report failed (then either state is right).
      const last = new Map();
      for (const c of w.changes) last.set(c.id, c);
      const attempted = new Map(w.uncertain.filter((u) => u.id).map((u) => [u.id, u.status]));
      for (const [id, c] of last) {
        const item = stored.get(id);
        if (!item) {
          problems.push(`report ${id} acknowledged (${c.status}) but not in the store`);
        } else if (attempted.has(id)) {
          if (item.status !== c.status && item.status !== attempted.get(id)) {
            problems.push(`report ${id}: acknowledged ${c.status}, then ${attempted.get(id)} failed, yet stored ${item.status}`);
          }
        } else if (item.status !== c.status || item.updatedAt !== c.updatedAt) {
          problems.push(`report ${id}: acknowledged ${c.status} at ${c.updatedAt}, stored ${item.status} at ${item.updatedAt}`);
        }
      }
      // Delivered once, in order: event ids increase, no change is announced twice, and every
      // acknowledged change is announced.
      const ids = events.map((e) => e.eventId);
      for (let i = 1; i < ids.length; i++) {
        if (ids[i] <= ids[i - 1]) problems.push(`${sub.name}: event id ${ids[i]} after ${ids[i - 1]}`);
      }
      const seen = new Map();
      for (const e of events) {
        const key = keyOf(e);
        if (seen.has(key)) problems.push(`${sub.name}: ${key} delivered twice (event ids ${seen.get(key)} and ${e.eventId})`);
        else seen.set(key, e.eventId);
      }
      for (const c of w.changes) {
        if (!seen.has(keyOf(c))) problems.push(`${sub.name}: acknowledged ${keyOf(c)} never delivered`);
      }
      // Per report, the announced statuses follow the order they were acknowledged in.
      for (const id of last.keys()) {
        const announced = events.filter((e) => e.id === id).map((e) => e.updatedAt);
        const sorted = [...announced].sort();
        if (JSON.stringify(announced) !== JSON.stringify(sorted)) problems.push(`${sub.name}: events of ${id} out of order`);
      }
      await sub.close();
    }
    assert.deepEqual(problems, [], `${acknowledged} acknowledged changes; requests ${JSON.stringify(outcomes)}`);
    console.log(`dynalite outage: ${acknowledged} acknowledged changes; requests ${JSON.stringify(outcomes)}`);
  });
});
