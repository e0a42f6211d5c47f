// Scale-out: three ssehub processes with `--bus kafka` on one broker, each with its own data
// directory. Events get the same ids on every node, so a user's streams on different nodes see
// the same sequence, and a client resumes on any node, after a move, a crash or a restart of
// the whole cluster. Also measures (prints, does not assert) the latency through Kafka.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  eventSource, eventually, metrics, publishOk, range, request, showServerLogsOnFailure, sse, startServer, uniqueUser,
} from "./lib/server.mjs";
import {
  createTopics, ingestArgs, ingested, partitionCount, produce, skipped, uniqueName, useBroker, waitReady,
} from "./lib/kafka.mjs";
import { createReportTable, deleteTable, sharedDynalite, uniqueTableName } from "./lib/dynamodb.mjs";

showServerLogsOnFailure();
useBroker();
const T = { timeout: 60_000 };
const FIRST = { timeout: 30_000 }; // the ingest group forms, or a node catches up
const WAIT = { timeout: 15_000 };

function assertIncreasing(ids, what) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${what}: ids not increasing: ${ids}`);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * A fetch for the npm EventSource that sends every (re)connection to the first node that
 * answers, like a load balancer: when a node refuses, the next attempt goes to the next node.
 */
function failoverFetch(nodes) {
  let current = 0;
  const doFetch = async (input, init) => {
    const url = new URL(input);
    url.host = new URL(nodes[current].url).host;
    try {
      return await fetch(url, init);
    } catch (e) {
      current = Math.min(current + 1, nodes.length - 1);
      throw e;
    }
  };
  doFetch.node = () => nodes[current];
  return doFetch;
}

describe("three nodes on a Kafka bus", () => {
  let kafka;
  let args;
  let dynamo;
  let table;
  let A;
  let B;
  let C;

  const streamUrl = (node, user) => `${node.url}/v3/sse?username=${encodeURIComponent(user)}`;

  before(async () => {
    kafka = { group: uniqueName("cluster-group"), v3Topic: uniqueName("cluster-v3"), v4Topic: uniqueName("cluster-v4") };
    await createTopics(kafka.v3Topic, kafka.v4Topic);
    // Nodes of a cluster share one report store (a DynamoDB table), as in production.
    dynamo = await sharedDynalite();
    table = uniqueTableName("cluster");
    await createReportTable(dynamo.endpoint, table);
    // The bus topic is left to ssehub to create.
    args = [...ingestArgs(kafka), "--bus", "kafka", "--bus-topic", uniqueName("cluster-bus"), "--bus-partitions", "3",
            "--store", "dynamodb", "--dynamodb-endpoint", dynamo.endpoint, "--dynamodb-table", table];
    [A, B, C] = await Promise.all([startServer(args), startServer(args), startServer(args)]);
    for (const node of [A, B, C]) {
      const ready = await waitReady(node);
      assert.equal(ready.checks.bus, "ok");
      assert.equal(ready.checks.kafka, "ok");
    }
  }, { timeout: 60_000 });
  after(async () => {
    await Promise.all([A, B, C].map((node) => node?.dispose()));
    if (dynamo) {
      await deleteTable(dynamo.endpoint, table).catch(() => {});
      await dynamo.release();
    }
  });

  it("UserOnTwoNodesGetsPostsAndKafkaRecordsInTheSameOrderWithTheSameIds", T, async () => {
    const user = uniqueUser("both");
    const onA = eventSource(streamUrl(A, user));
    const onB = eventSource(streamUrl(B, user));
    try {
      await onA.waitFor((c) => c.opens >= 1, { ...WAIT, what: "open on A" });
      await onB.waitFor((c) => c.opens >= 1, { ...WAIT, what: "open on B" });
      const ingestedBefore = (await Promise.all([A, B, C].map((n) => metrics(n.url)))).map(ingested);
      const firstId = await publishOk(C.url, user, "posted on C: 1", { api: "v3" });
      const fromKafka = range(1, 10).map((i) => `from kcat: ${i}`);
      await produce(kafka.v3Topic, fromKafka.map((m) => `${user}:${m}`), { key: user });
      await onA.waitEvents(11, FIRST);
      const lastId = await publishOk(C.url, user, "posted on C: 2", { api: "v3" });
      await onA.waitEvents(12, WAIT);
      await onB.waitEvents(12, WAIT);

      const expected = ["posted on C: 1", ...fromKafka, "posted on C: 2"];
      assert.deepEqual(onA.data(), expected, "node A");
      assert.deepEqual(onB.data(), expected, "node B");
      assert.deepEqual(onB.ids(), onA.ids(), "the same ids on both nodes");
      assertIncreasing(onA.ids(), "node A");
      assert.equal(onA.ids()[0], firstId);
      assert.equal(onA.ids().at(-1), lastId);

      // Each record was consumed by one node of the group, not by each.
      const counted = async () => {
        const now = (await Promise.all([A, B, C].map((n) => metrics(n.url)))).map(ingested);
        return now.reduce((sum, n, i) => sum + n - ingestedBefore[i], 0);
      };
      await eventually(async () => (await counted()) >= fromKafka.length, { what: "the records to be counted" });
      // At least once: a rebalance in the middle may hand a record to a second node, never to each.
      const total = await counted();
      assert.ok(total < 2 * fromKafka.length, `${total} ingestions of ${fromKafka.length} records`);
    } finally {
      onA.close();
      onB.close();
    }
  });

  it("V4RecordMovesAReportWhicheverNodeConsumesIt", T, async () => {
    // The group spreads the v4 topic's partitions over the nodes, so the node that consumes
    // a status record is usually not the one the report was created on.
    const userId = randomUUID();
    const updates = eventSource(`${A.url}/v4/sse?user_id=${userId}`, { types: ["report_status_update"] });
    try {
      await updates.waitFor((c) => c.opens >= 1, { ...WAIT, what: "open on A" });
      const partitions = await partitionCount(kafka.v4Topic);
      const reportIds = [];
      for (let p = 0; p < partitions; p++) {
        const res = await request(`${A.url}/v4/new/report?user_id=${userId}`, { method: "POST" });
        assert.equal(res.status, 201, res.body);
        reportIds.push(res.json.reportId);
      }
      const before = await Promise.all([A, B, C].map((n) => metrics(n.url)));
      for (const [p, id] of reportIds.entries()) {
        await produce(kafka.v4Topic, [[id, JSON.stringify({ id, status: "queued" })]], { partition: p });
      }
      // Each record either moves its report (an event on A) or is skipped somewhere.
      let unknown = [];
      const settled = async () => {
        const now = await Promise.all([A, B, C].map((n) => metrics(n.url)));
        unknown = now.map((m, i) => skipped(m, "unknown_report") - skipped(before[i], "unknown_report"));
        return updates.data("report_status_update").length + unknown.reduce((a, b) => a + b, 0) >= partitions;
      };
      await eventually(settled, { timeout: 15_000, what: "every status record to be handled" });
      assert.deepEqual(unknown, [0, 0, 0],
                       `status records of reports created on node A skipped as unknown_report on nodes A, B, C ` +
                       `(${updates.data("report_status_update").length} of ${partitions} moved their report)`);
      await updates.waitEvents(partitions, { type: "report_status_update", ...WAIT });
      const listed = await request(`${B.url}/v4/reports?user_id=${userId}`);
      assert.deepEqual(listed.json.map((r) => r.reportStatus), reportIds.map(() => "queued"), "listed on node B");
    } finally {
      updates.close();
    }
  });

  it("StreamMovedToAnotherNodeWithLastEventIdResumesWithoutGapOrDuplicate", T, async () => {
    const user = uniqueUser("move");
    const N = 150;
    const expected = range(1, N).map((i) => `m${i}`);
    const clients = [await sse(streamUrl(A, user))];
    let publishing;
    try {
      // Publishing goes on while the client moves, so the node it moves to may lag behind.
      publishing = (async () => {
        for (const m of expected) await publishOk(C.url, user, m, { api: "v3" });
      })();
      // A -> B after 40 events in all, then B -> C after 90.
      for (const [next, moveAt] of [[B, 40], [C, 90]]) {
        const current = clients.at(-1);
        const earlier = clients.slice(0, -1).reduce((n, c) => n + c.events.length, 0);
        await current.waitEvents(moveAt - earlier, WAIT);
        current.close();
        clients.push(await sse(streamUrl(next, user), { headers: { "Last-Event-ID": current.lastEventId } }));
      }
      await publishing;
      await clients.at(-1).waitFor((c) => c.data().includes(`m${N}`), { ...WAIT, what: `m${N}` });
      const data = clients.flatMap((c) => c.data());
      const ids = clients.flatMap((c) => c.ids());
      assert.deepEqual(data, expected, "no gap, no duplicate across the moves");
      assertIncreasing(ids, "across the moves");
      assert.ok(clients[1].events.length > 0 && clients[0].events.length > 0);
      // Back on A once everything is published: the rest comes from A's history alone.
      const back = await sse(streamUrl(A, user), { headers: { "Last-Event-ID": String(ids[99]) } });
      clients.push(back);
      await back.waitEvents(N - 100, WAIT);
      assert.deepEqual(back.data(), expected.slice(100));
      assert.deepEqual(back.ids(), ids.slice(100));
    } finally {
      await publishing?.catch(() => {});
      for (const client of clients) client.close();
    }
  });

  it("ResumeFromAnIdTheClusterNeverIssuedSendsResetThenLiveEvents", T, async () => {
    // As on a single node: an id no node ever issued for this stream (a client of an older
    // deployment, a recreated bus topic) must not leave the client waiting for it forever.
    const user = uniqueUser("never");
    await publishOk(C.url, user, "old 1", { api: "v3" });
    const lastIssued = await publishOk(C.url, user, "old 2", { api: "v3" });
    const bogus = lastIssued + 1_000_000;
    const stream = await sse(streamUrl(B, user), { headers: { "Last-Event-ID": String(bogus) } });
    try {
      const liveId = await publishOk(C.url, user, "live", { api: "v3" });
      await stream.waitFor((c) => c.data("reset").length > 0 || c.data().length > 0,
                           { timeout: 5_000, what: `a reset or the live event ${liveId} after Last-Event-ID ${bogus}` });
      await stream.waitFor((c) => c.data().includes("live"), { ...WAIT, what: "the live event" });
      assert.equal(stream.events[0].type, "reset");
      // The reset continues after what this node had applied when the client came; what it
      // had not applied yet of "old 1", "old 2" arrives next, in order, then the live event.
      const after = stream.data();
      assert.ok(["live", "old 2,live", "old 1,old 2,live"].includes(after.join(",")),
                `after the reset: ${after}`);
    } finally {
      stream.close();
    }
  });

  it("MeasuresLatencyFromPostOnOneNodeToAStreamOnAnother", T, async () => {
    const user = uniqueUser("latency");
    const onB = await sse(streamUrl(B, user));
    try {
      const arrivals = [];
      onB.parser.listeners.push(() => {
        while (arrivals.length < onB.events.length) arrivals.push(performance.now());
      });
      const WARM_UP = 20;
      const N = 200;
      const endToEnd = [];
      const acked = [];
      for (let i = 0; i < WARM_UP + N; i++) {
        const start = performance.now();
        await publishOk(A.url, user, `latency ${i}`, { api: "v3" });
        const ack = performance.now();
        await onB.waitEvents(i + 1, WAIT);
        if (i >= WARM_UP) {
          endToEnd.push(arrivals[i] - start);
          acked.push(ack - start);
        }
      }
      assert.deepEqual(onB.data(), range(0, WARM_UP + N - 1).map((i) => `latency ${i}`));
      endToEnd.sort((a, b) => a - b);
      acked.sort((a, b) => a - b);
      const ms = (x) => x.toFixed(1);
      console.log(`latency through Kafka, POST on node A -> event on a stream of node B, ${N} messages one at a time: ` +
                  `median ${ms(percentile(endToEnd, 50))} ms, p99 ${ms(percentile(endToEnd, 99))} ms, ` +
                  `max ${ms(endToEnd.at(-1))} ms (POST -> 204 median ${ms(percentile(acked, 50))} ms, ` +
                  `p99 ${ms(percentile(acked, 99))} ms)`);
    } finally {
      onB.close();
    }
  });

  it("AfterEveryNodeRestartsAClientResumingOnAnyNodeGetsExactlyWhatItMissed", { timeout: 90_000 }, async () => {
    const user = uniqueUser("restart");
    const first = await sse(streamUrl(A, user));
    let seen;
    try {
      for (let i = 1; i <= 3; i++) await publishOk(C.url, user, `seen ${i}`, { api: "v3" });
      await produce(kafka.v3Topic, [`${user}:seen from kcat`], { key: user });
      await first.waitEvents(4, FIRST);
      seen = { lastId: first.lastEventId, ids: first.ids() };
    } finally {
      first.close();
    }

    await Promise.all([A, B, C].map((node) => node.stop("SIGTERM")));
    const missedFromKafka = range(1, 3).map((i) => `missed from kcat ${i}`);
    await produce(kafka.v3Topic, missedFromKafka.map((m) => `${user}:${m}`), { key: user });
    await Promise.all([A, B, C].map((node) => node.start()));
    await Promise.all([A, B, C].map((node) => waitReady(node)));
    const missedPosts = range(1, 3).map((i) => `missed post ${i}`);
    for (const m of missedPosts) await publishOk(B.url, user, m, { api: "v3" });

    // What node A says was missed is the reference; a sentinel published last shows that
    // nothing else follows.
    const probe = await sse(streamUrl(A, user), { headers: { "Last-Event-ID": seen.lastId } });
    let reference;
    try {
      await probe.waitEvents(6, FIRST);
      reference = { data: probe.data(), ids: probe.ids() };
    } finally {
      probe.close();
    }
    assert.deepEqual(reference.data.filter((d) => d.startsWith("missed from kcat")), missedFromKafka);
    assert.deepEqual(reference.data.filter((d) => d.startsWith("missed post")), missedPosts);
    assert.equal(reference.data.length, 6);
    assert.ok(reference.ids[0] > Number(seen.lastId));
    assertIncreasing(reference.ids, "missed events");

    // A fourth node with an empty data directory rebuilds its history from the bus.
    const D = await startServer(args);
    try {
      await waitReady(D);
      const sentinelId = await publishOk(C.url, user, "sentinel", { api: "v3" });
      for (const node of [A, B, C, D]) {
        const resumed = await sse(streamUrl(node, user), { headers: { "Last-Event-ID": seen.lastId } });
        try {
          await resumed.waitFor((c) => c.ids().includes(sentinelId), { ...WAIT, what: "the sentinel" });
          const name = node === D ? "new node" : `node ${"ABC"[[A, B, C].indexOf(node)]}`;
          assert.deepEqual(resumed.data(), [...reference.data, "sentinel"], name);
          assert.deepEqual(resumed.ids(), [...reference.ids, sentinelId], name);
        } finally {
          resumed.close();
        }
      }
    } finally {
      await D.dispose();
    }
  });

  it("NodeKilledWithSigkillLosesNothingForClientsThatReconnectToAnother", { timeout: 90_000 }, async () => {
    const users = range(1, 3).map((i) => uniqueUser(`crash${i}`));
    const N = 60;
    const clients = users.map((user) => {
      const route = failoverFetch([A, B]);
      const client = eventSource(streamUrl(A, user), { fetch: route });
      client.route = route;
      return client;
    });
    try {
      for (const client of clients) await client.waitFor((c) => c.opens >= 1, { ...WAIT, what: "open on A" });
      let killed = null;
      for (let i = 1; i <= N; i++) {
        for (const user of users) await publishOk(C.url, user, `m${i}`, { api: "v3" });
        if (i === N / 3) killed = A.kill9();
      }
      assert.equal((await killed).signal, "SIGKILL");
      for (const client of clients) {
        await client.waitFor((c) => c.data().includes(`m${N}`), { ...WAIT, what: `m${N}` });
        assert.deepEqual(client.data(), range(1, N).map((i) => `m${i}`), "no gap, no duplicate");
        assertIncreasing(client.ids(), "across the failover");
        assert.equal(client.route.node(), B, "reconnected to B");
        assert.ok(client.opens >= 2, "reconnected");
      }

      // The crashed node comes back with what it had, catches up from the bus, and serves
      // the same events under the same ids.
      await A.start();
      await waitReady(A);
      const reference = clients[0];
      const from = reference.ids()[9];
      const resumed = await sse(streamUrl(A, users[0]), { headers: { "Last-Event-ID": String(from) } });
      try {
        await resumed.waitEvents(N - 10, WAIT);
        assert.deepEqual(resumed.data(), reference.data().slice(10));
        assert.deepEqual(resumed.ids(), reference.ids().slice(10));
      } finally {
        resumed.close();
      }
    } finally {
      for (const client of clients) client.close();
    }
  });
});
