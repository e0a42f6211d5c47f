// Durability: every publish answered 204 survives `kill -9`, and ids keep increasing across
// restarts (never reused).

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { metrics, publish, publishOk, range, showServerLogsOnFailure, sse, startServer as startWith, uniqueUser } from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 60_000 };

// The logs that keep events on disk: SQLite, and the segment log's journal (synced or not).
const STORES = {
  sqlite: ["--history-store", "sqlite", "--history-sync", "full"],
  segment: ["--history-store", "segment", "--history-sync", "normal"],
  "segment, fdatasync before each answer": ["--history-store", "segment", "--history-sync", "full"],
};

for (const [store, storeArgs] of Object.entries(STORES)) describe(`durability across kill -9 (${store})`, () => {
  let server;
  afterEach(() => server?.dispose());
  const startServer = (args = []) => startWith([...storeArgs, ...args]);

  const streamUrl = (user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

  it("AcknowledgedPublishesSurviveKill9AndIdsContinueAfterRestart", T, async () => {
    server = await startServer();
    const user = uniqueUser("crash");
    const N = 40;
    const acked = [];
    for (let i = 1; i <= N; i++) acked.push(await publishOk(server.url, user, `durable ${i}`));
    assert.deepEqual(acked, range(1, N));
    const status = await server.kill9();
    assert.equal(status.signal, "SIGKILL");
    await server.start();

    const fromZero = await sse(streamUrl(user), { headers: { "Last-Event-ID": "0" } });
    try {
      await fromZero.waitEvents(N);
      assert.deepEqual(fromZero.ids(), range(1, N));
      assert.deepEqual(fromZero.data(), range(1, N).map((i) => `durable ${i}`));
    } finally {
      fromZero.close();
    }

    // Resuming from the last id seen replays nothing; the next publish takes the next id.
    const fromLast = await sse(streamUrl(user), { headers: { "Last-Event-ID": String(N) } });
    try {
      assert.equal(await publishOk(server.url, user, "after restart"), N + 1);
      await fromLast.waitEvents(1);
      assert.deepEqual(fromLast.events.map((e) => [e.type, e.idField, e.data]), [["message", String(N + 1), "after restart"]]);
    } finally {
      fromLast.close();
    }

    // A second crash right after that publish still keeps it, and still no id is reused.
    await server.kill9();
    await server.start();
    assert.equal(await publishOk(server.url, user, "after second restart"), N + 2);
  });

  it("IdsContinueAfterRestartEvenWhenHistoryKeptOnlySomeEvents", T, async () => {
    server = await startServer(["--history-max-events", "3"]);
    const user = uniqueUser("crash-trimmed");
    for (let i = 1; i <= 6; i++) await publishOk(server.url, user, `m${i}`);
    await server.kill9();
    await server.start();
    assert.equal(await publishOk(server.url, user, "m7"), 7);
    const replay = await sse(streamUrl(user), { headers: { "Last-Event-ID": "earliest" } });
    try {
      await replay.waitEvents(3);
      assert.deepEqual(replay.ids(), [5, 6, 7]);
    } finally {
      replay.close();
    }
  });

  it("ConcurrentPublishesAcknowledgedBeforeKill9AreAllInHistoryAfterRestart", T, async () => {
    server = await startServer();
    const user = uniqueUser("crash-concurrent");
    const acked = new Map(); // id -> body
    let failures = 0;
    let stop = false;
    let sent = 0;
    const worker = async (w) => {
      for (let i = 0; !stop; i++) {
        const body = `w${w} #${i} ${"x".repeat(200)}`;
        sent++;
        try {
          const res = await publish(server.url, user, body);
          if (res.status === 204) {
            assert.ok(!acked.has(res.id), `id ${res.id} acknowledged twice`);
            acked.set(res.id, body);
          } else {
            failures++;
          }
        } catch {
          failures++; // the connection died with the server: not acknowledged
        }
      }
    };
    const workers = [1, 2, 3, 4, 5, 6].map(worker);
    while (acked.size < 150) await new Promise((r) => setTimeout(r, 5));
    await server.kill9(); // publishes are in flight right now
    stop = true;
    await Promise.all(workers);
    const ackedIds = [...acked.keys()].sort((a, b) => a - b);

    await server.start();
    const replay = await sse(streamUrl(user), { headers: { "Last-Event-ID": "earliest" } });
    try {
      const maxAcked = ackedIds.at(-1);
      await replay.waitFor((s) => s.ids().includes(maxAcked), { timeout: 10_000, what: `id ${maxAcked}` });
      // A marker published now lands after everything history holds.
      const marker = await publishOk(server.url, user, "marker");
      await replay.waitId(marker, { timeout: 10_000 });
      const ids = replay.ids();
      assert.deepEqual(ids, range(1, marker), "history holds contiguous ids, then the marker");
      const got = new Map(replay.events.map((e) => [Number(e.idField), e.data]));
      for (const id of ackedIds) assert.equal(got.get(id), acked.get(id), `acknowledged event ${id}`);
      assert.ok(marker > maxAcked, `marker id ${marker} reuses an acknowledged id (max ${maxAcked})`);
      assert.ok(marker - 1 <= sent, "history cannot hold more events than were sent");
    } finally {
      replay.close();
    }
    const m = await metrics(server.url);
    assert.equal(m.get("ssehub_events_accepted_total"), 1, "only the marker was accepted after the restart");
  });
});
