// Kafka ingestion on one node: v3 records `username:message` reach the user's /v3/sse, v4
// records `{"id", "status"}` move reports; malformed records are skipped, counted, and never
// stop what follows; nothing is lost while ssehub or the broker is down (at-least-once).
// Real broker (started here unless one runs), kcat as the producer, the npm EventSource.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  eventSource, eventually, metrics, metricsEventually, publish, publishOk, readyz, request, showServerLogsOnFailure,
  sse, startServer, uniqueUser,
} from "./lib/server.mjs";
import {
  brokerRunning, createTopics, ingestArgs, ingested, produce, producer, skipped, startBroker,
  stopBroker, uniqueName, useBroker, waitReady,
} from "./lib/kafka.mjs";

showServerLogsOnFailure();
useBroker();
const T = { timeout: 60_000 };
// The first record of a file waits for the consumer group to form (a few seconds).
const FIRST = { timeout: 30_000 };
const WAIT = { timeout: 15_000 };

const UPDATE = "report_status_update";
const SKIP_REASONS = ["no_colon", "empty_username", "invalid_utf8", "too_large", "invalid_json",
                      "invalid_report_id", "invalid_status", "unknown_report", "invalid_transition"];

/** A fresh group and topics, created before ssehub subscribes. */
async function kafkaSetup(prefix) {
  const names = { group: uniqueName(`${prefix}-group`), v3Topic: uniqueName(`${prefix}-v3`),
                  v4Topic: uniqueName(`${prefix}-v4`) };
  await createTopics(names.v3Topic, names.v4Topic);
  return names;
}

/** A real EventSource on /v3/sse of `user`; resolves once it is open. */
async function v3Stream(server, user) {
  const es = eventSource(`${server.url}/v3/sse?username=${encodeURIComponent(user)}`);
  await es.waitFor((c) => c.opens >= 1, { ...WAIT, what: "the EventSource to open" });
  return es;
}

function assertIncreasing(ids, what) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${what}: ids not increasing: ${ids}`);
}

function skipCounts(m) {
  return Object.fromEntries(SKIP_REASONS.map((r) => [r, skipped(m, r)]));
}

function delta(after, before) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
}

/** Kafka delivers at least once: every expected record arrives, first copies in order. */
function assertAllArrivedInOrder(received, expected, what) {
  const firstCopies = [...new Set(received)];
  assert.deepEqual(firstCopies.filter((d) => expected.includes(d)), expected, `${what}: lost or reordered`);
  return received.length - firstCopies.length; // duplicates, which at-least-once allows
}

describe("v3 over HTTP", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  it("V3StreamAndPublishBehaveAsV2", T, async () => {
    for (const api of ["v2", "v3"]) {
      const user = uniqueUser(`http-${api}`);
      const url = `${server.url}/${api}/sse?username=${encodeURIComponent(user)}`;
      const es = eventSource(url);
      try {
        await es.waitFor((c) => c.opens >= 1, { ...WAIT, what: "open" });
        const first = await publishOk(server.url, user, "one: with a colon", { api });
        const second = await publishOk(server.url, user, "two\nlines", { api });
        await es.waitEvents(2, WAIT);
        assert.deepEqual(es.data(), ["one: with a colon", "two\nlines"], api);
        assert.deepEqual(es.ids(), [first, second], api);
        // Resume replays from history the same way.
        const resumed = await sse(url, { headers: { "Last-Event-ID": String(first) } });
        try {
          await resumed.waitEvents(1, WAIT);
          assert.deepEqual(resumed.data(), ["two\nlines"], api);
        } finally {
          resumed.close();
        }
      } finally {
        es.close();
      }
    }
    // The same refusals, with the same answers.
    const cases = [
      ["missing username", (api) => request(`${server.url}/${api}/message`, { method: "POST", body: "x" })],
      ["empty body", (api) => publish(server.url, "someone", "", { api })],
      ["invalid UTF-8", (api) => publish(server.url, "someone", Buffer.from([0x61, 0xff]), { api })],
      ["stream without username", (api) => request(`${server.url}/${api}/sse`)],
      ["bad Last-Event-ID", (api) => request(`${server.url}/${api}/sse?username=u`, { headers: { "Last-Event-ID": "x" } })],
    ];
    for (const [name, send] of cases) {
      const [v2, v3] = [await send("v2"), await send("v3")];
      assert.equal(v2.status, 400, `${name}: v2 answered ${v2.status}`);
      assert.equal(v3.status, v2.status, `${name}: v3 answered ${v3.status}, v2 ${v2.status}`);
      assert.deepEqual(v3.json, v2.json, name);
    }
  });
});

describe("v3 and v4 records", () => {
  let server;
  let kafka;
  const MAX_BODY = 1024;
  const MAX_EVENT = 700;

  before(async () => {
    kafka = await kafkaSetup("ingest");
    server = await startServer([...ingestArgs(kafka), "--max-body-bytes", String(MAX_BODY),
                                "--max-event-bytes", String(MAX_EVENT)]);
    const ready = await waitReady(server);
    assert.equal(ready.checks.kafka, "ok");
  }, FIRST);
  after(() => server?.dispose());

  it("RecordSplitAtTheFirstColonReachesTheUsersEventSource", FIRST, async () => {
    const user = uniqueUser("split");
    const es = await v3Stream(server, user);
    try {
      const before = await metrics(server.url);
      // [record message, event.data an EventSource sees]
      const cases = [
        ["hello", "hello"],
        ["a:b::c:", "a:b::c:"],
        [":starts with a colon", ":starts with a colon"],
        [" leading space", " leading space"],
        ["line one\nline two", "line one\nline two"],
        ["crlf\r\nand cr\rend", "crlf\nand cr\nend"],
        ["data: not a field\nid: 99\nevent: nope", "data: not a field\nid: 99\nevent: nope"],
        ["unicode 😀 àé 中文", "unicode 😀 àé 中文"],
      ];
      await produce(kafka.v3Topic, [
        ...cases.slice(0, 4).map(([m]) => `${user}:${m}`),
        `${user}-other:for somebody else`,
        `${user}x:for somebody else`,
        ...cases.slice(4).map(([m]) => `${user}:${m}`),
      ], { key: user });
      await es.waitEvents(cases.length, FIRST);
      // Kafka and HTTP feed the same stream.
      const httpId = await publishOk(server.url, user, "over http", { api: "v3" });
      await es.waitEvents(cases.length + 1, WAIT);
      assert.deepEqual(es.data(), [...cases.map(([, d]) => d), "over http"]);
      assertIncreasing(es.ids(), "v3 stream");
      assert.equal(es.ids().at(-1), httpId);
      // The counter moves after the commit, which may come after the events reached the
      // streams; later tests count from here.
      await metricsEventually(server.url, (m) => ingested(m) - ingested(before) >= cases.length + 2,
                              { what: "every record to be counted" });
    } finally {
      es.close();
    }
  });

  it("MalformedRecordsAreSkippedCountedAndLaterRecordsStillArrive", T, async () => {
    const user = uniqueUser("skip");
    const es = await v3Stream(server, user);
    try {
      const beforeAll = await metrics(server.url);
      const before = skipCounts(beforeAll);
      const prefix = `${user}:`;
      const exactlyAtLimit = prefix + "L".repeat(MAX_BODY - Buffer.byteLength(prefix));
      // A one-line message makes an event 33 bytes larger (id line, `data: `, line ends), as
      // over HTTP; the largest fits --max-event-bytes exactly.
      const largestEvent = prefix + "E".repeat(MAX_EVENT - 33);
      const records = [
        `${user}:before`,
        "no colon at all",
        ":an empty username",
        Buffer.concat([Buffer.from(`${user}:invalid `), Buffer.from([0xc3, 0x28, 0xff])]),
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`:${user} the username is not UTF-8`)]),
        exactlyAtLimit + "!", // one byte over --max-body-bytes
        exactlyAtLimit, // within --max-body-bytes, but an event clients cannot buffer
        largestEvent + "!",
        largestEvent,
        `${user}:after`,
      ];
      assert.equal(Buffer.byteLength(exactlyAtLimit), MAX_BODY);
      await produce(kafka.v3Topic, records, { key: user });
      await es.waitEvents(3, WAIT);
      const m = await metricsEventually(server.url, (m) => skipped(m, "too_large") >= before.too_large + 3 &&
                                        ingested(m) - ingested(beforeAll) >= 3,
                                        { timeout: 10_000, what: "too_large and the 3 events to be counted" });
      assert.deepEqual(es.data(), ["before", largestEvent.slice(prefix.length), "after"]);
      assert.deepEqual(delta(skipCounts(m), before), {
        no_colon: 1, empty_username: 1, invalid_utf8: 2, too_large: 3,
        invalid_json: 0, invalid_report_id: 0, invalid_status: 0, unknown_report: 0, invalid_transition: 0,
      });
      assert.match(m.text, /^# HELP ssehub_kafka_records_skipped_total /m);
    } finally {
      es.close();
    }
  });

  it("UsernameOverTheUsernameLimitIsSkippedNotDelivered", T, async () => {
    // Nobody can subscribe as such a user (/v3/sse answers 400), so the record is skipped.
    const user = uniqueUser("long");
    const es = await v3Stream(server, user);
    try {
      const before = await metrics(server.url);
      const total = (m) => SKIP_REASONS.reduce((sum, r) => sum + skipped(m, r), 0);
      await produce(kafka.v3Topic, [`${"u".repeat(257)}:too long a name`, `${user}:next`], { key: user });
      await es.waitEvents(1, WAIT);
      const m = await metricsEventually(server.url, (m) => total(m) > total(before) && ingested(m) > ingested(before),
                                        { what: "a skip and an event" });
      assert.equal(total(m) - total(before), 1);
      assert.deepEqual(es.data(), ["next"]);
    } finally {
      es.close();
    }
  });

  it("IngestedCounterCountsOnlyRecordsTurnedIntoEvents", T, async () => {
    // ssehub_kafka_records_ingested_total is "Kafka records turned into events or changes":
    // skipped records are counted in ssehub_kafka_records_skipped_total instead.
    const user = uniqueUser("counted");
    const es = await v3Stream(server, user);
    try {
      const before = await metrics(server.url);
      await produce(kafka.v3Topic, [`${user}:one`, "no colon", ":no user", `${user}:two`], { key: user });
      await es.waitEvents(2, WAIT);
      // The counter moves after the commit, which may come after the events reached the stream.
      const m = await metricsEventually(server.url, (m) => skipped(m, "empty_username") > skipped(before, "empty_username") &&
                                        ingested(m) - ingested(before) >= 2, { what: "the batch to be counted" });
      assert.equal(skipped(m, "no_colon") - skipped(before, "no_colon"), 1);
      assert.equal(ingested(m) - ingested(before), 2, "records turned into events");
    } finally {
      es.close();
    }
  });

  describe("v4 status records", () => {
    const api = (path) => `${server.url}${path}`;

    async function createReport(userId) {
      const res = await request(api(`/v4/new/report?user_id=${userId}`), { method: "POST" });
      assert.equal(res.status, 201, res.body);
      assert.equal(res.json.reportStatus, "pending");
      return res.json.reportId;
    }

    async function statusOf(userId, reportId) {
      const res = await request(api(`/v4/reports?user_id=${userId}`));
      assert.equal(res.status, 200, res.body);
      return res.json.find((r) => r.reportId === reportId)?.reportStatus;
    }

    async function v4Stream(userId) {
      const es = eventSource(api(`/v4/sse?user_id=${userId}`), { types: [UPDATE] });
      await es.waitFor((c) => c.opens >= 1, { ...WAIT, what: "the EventSource to open" });
      return es;
    }

    it("ValidStatusRecordMovesTheReportAndNotifiesTheUsersV4Stream", T, async () => {
      const userId = randomUUID();
      const reportId = await createReport(userId);
      const es = await v4Stream(userId);
      try {
        const before = await metrics(server.url);
        await produce(kafka.v4Topic, [[reportId, JSON.stringify({ id: reportId, status: "queued" })]]);
        await es.waitEvents(1, { type: UPDATE, ...WAIT });
        assert.equal(await statusOf(userId, reportId), "queued");
        // Status words are case-insensitive, as in PUT /v4/report; the id may be upper case.
        await produce(kafka.v4Topic, [[reportId, JSON.stringify({ id: reportId.toUpperCase(), status: "PROCESSING" })]]);
        await es.waitEvents(2, { type: UPDATE, ...WAIT });
        const updates = es.data(UPDATE).map((d) => JSON.parse(d));
        assert.deepEqual(updates.map((u) => [u.id, u.status]), [[reportId, "queued"], [reportId, "processing"]]);
        assert.equal(await statusOf(userId, reportId), "processing");
        // The counter moves once the change is stored and its event published, so it may lag
        // the event the stream already showed.
        const m = await metricsEventually(server.url, (m) => ingested(m) - ingested(before) >= 2,
                                          { what: "both changes to be counted" });
        assert.equal(ingested(m) - ingested(before), 2);
        assert.deepEqual(delta(skipCounts(m), skipCounts(before)), Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])));
      } finally {
        es.close();
      }
    });

    it("InvalidStatusRecordsMoveNothingAndAreCounted", T, async () => {
      const userId = randomUUID();
      const reportId = await createReport(userId);
      const es = await v4Stream(userId);
      try {
        const before = skipCounts(await metrics(server.url));
        const record = (body) => [reportId, typeof body === "string" ? body : JSON.stringify(body)];
        await produce(kafka.v4Topic, [
          record(`{"id": "${reportId}", "status": `), // bad JSON
          record(["not", "an", "object"]),
          record({ id: reportId }), // no status
          record({ id: reportId, status: "done" }), // unknown status
          record({ id: "not-a-uuid", status: "queued" }),
          record({ id: randomUUID(), status: "queued" }), // unknown report
          record({ id: reportId, status: "completed" }), // pending -> completed is not allowed
        ]);
        const m = await metricsEventually(server.url, (m) => skipped(m, "invalid_transition") > before.invalid_transition,
                                          { timeout: 10_000, what: "the invalid transition to be counted" });
        assert.deepEqual(delta(skipCounts(m), before), {
          no_colon: 0, empty_username: 0, invalid_utf8: 0, too_large: 0,
          invalid_json: 3, invalid_report_id: 1, invalid_status: 1, unknown_report: 1, invalid_transition: 1,
        });
        assert.equal(await statusOf(userId, reportId), "pending");
        assert.equal(es.data(UPDATE).length, 0);
        // A valid record after them still moves the report.
        await produce(kafka.v4Topic, [record({ id: reportId, status: "canceled" })]);
        await es.waitEvents(1, { type: UPDATE, ...WAIT });
        assert.deepEqual(JSON.parse(es.data(UPDATE)[0]).status, "canceled");
        assert.equal(await statusOf(userId, reportId), "canceled");
      } finally {
        es.close();
      }
    });
  });
});

describe("at-least-once across ssehub restarts", () => {
  let server;
  let kafka;
  before(async () => {
    kafka = await kafkaSetup("restart");
    // The kill test sends 1,500 records to one user: keep them all, so a client that fell
    // behind resumes without a `reset` (the default keeps 1,000 per user).
    server = await startServer([...ingestArgs(kafka), "--history-max-events", "5000"]);
  });
  after(() => server?.dispose());

  it("RecordsProducedWhileSsehubIsStoppedArriveAfterItStarts", T, async () => {
    const user = uniqueUser("stopped");
    const es = await v3Stream(server, user);
    try {
      const expected = Array.from({ length: 15 }, (_, i) => `m${i + 1}`);
      await produce(kafka.v3Topic, expected.slice(0, 5).map((m) => `${user}:${m}`), { key: user });
      await es.waitEvents(5, FIRST);
      await server.stop("SIGTERM");
      await produce(kafka.v3Topic, expected.slice(5).map((m) => `${user}:${m}`), { key: user });
      await server.start();
      // The EventSource reconnects by itself with Last-Event-ID and gets the rest.
      await es.waitEvents(15, FIRST);
      // A clean stop commits what it consumed: nothing is delivered twice.
      assert.deepEqual(es.data(), expected);
      assertIncreasing(es.ids(), "after restart");
      assert.ok(es.opens >= 2, "the EventSource reconnected");
    } finally {
      es.close();
    }
  });

  it("RecordsInFlightWhenSsehubIsKilledArriveAfterRestart", { timeout: 120_000 }, async () => {
    const user = uniqueUser("killed");
    const es = await v3Stream(server, user);
    try {
      await produce(kafka.v3Topic, [`${user}:warm-up`], { key: user });
      await es.waitEvents(1, FIRST);
      const expected = Array.from({ length: 1500 }, (_, i) => `k${i + 1}`);
      const producing = produce(kafka.v3Topic, expected.slice(0, 1200).map((m) => `${user}:${m}`), { key: user });
      await es.waitFor((c) => c.data().length > 50, { ...WAIT, what: "ingestion to be under way" });
      const status = await server.kill9();
      assert.equal(status.signal, "SIGKILL");
      await producing;
      await produce(kafka.v3Topic, expected.slice(1200).map((m) => `${user}:${m}`), { key: user });
      await server.start();
      const restarted = Date.now();
      const all = (c) => c.data().includes(expected.at(-1));
      // A restarted node should take its partitions back within seconds; if it does not, wait
      // on (bounded) so the no-loss half of this test still gets checked.
      let resumedLate = null;
      try {
        await es.waitFor(all, { timeout: 20_000, what: "the last record" });
      } catch {
        await es.waitFor(all, { timeout: 70_000, what: "the last record" });
        resumedLate = Date.now() - restarted;
      }
      const received = es.data().slice(1); // after the warm-up
      const duplicates = assertAllArrivedInOrder(received, expected, "after kill -9");
      assertIncreasing(es.ids(), "after kill -9");
      console.log(`kill -9 during ingestion: ${duplicates} duplicate(s) among ${received.length} events (at-least-once)`);
      assert.equal(resumedLate, null,
                   `nothing lost, but ingestion resumed only ${(resumedLate / 1000).toFixed(1)} s after the restart: ` +
                   "the killed consumer's group membership blocked the rebalance until its session timed out");
    } finally {
      es.close();
    }
  });
});

// librdkafka gives up on a consumer for good after a fatal error: a static member fenced by
// another with its group.instance.id (two nodes given one --kafka-instance-id, or a commit
// sent after a session timeout, librdkafka#5585). ssehub must replace the consumer, not stop
// ingesting as the original app's consumer did.
describe("a fenced consumer", () => {
  let kafka;
  const servers = [];
  before(async () => {
    kafka = await kafkaSetup("static");
  });
  after(() => Promise.all(servers.map((s) => s.dispose())));

  it("ConsumerFencedByASecondMemberWithItsInstanceIdIsReplacedAndIngestionGoesOn", { timeout: 120_000 }, async () => {
    const args = [...ingestArgs(kafka), "--kafka-instance-id", uniqueName("shared-instance")];
    const first = await startServer(args);
    servers.push(first);
    await waitReady(first);
    const user = uniqueUser("fenced");
    const es = await v3Stream(first, user);
    try {
      const before = ["b1", "b2", "b3"];
      await produce(kafka.v3Topic, before.map((m) => `${user}:${m}`), { key: user });
      await es.waitEvents(before.length, FIRST);

      // The second member joins under the same instance id: the broker fences the first.
      const second = await startServer(args);
      servers.push(second);
      await eventually(() => /consumer fenced/i.test(first.logText()), { timeout: 30_000, what: "the first member to be fenced" });
      await second.dispose();

      // With the second gone, the first owns the partitions again and takes what follows.
      const afterwards = ["a1", "a2", "a3"];
      await produce(kafka.v3Topic, afterwards.map((m) => `${user}:${m}`), { key: user });
      await es.waitFor((c) => afterwards.every((m) => c.data().includes(m)),
                       { timeout: 60_000, what: "the records produced after the fencing" });
      assertAllArrivedInOrder(es.data(), [...before, ...afterwards], "across the fencing");
      assert.equal((await waitReady(first)).checks.kafka, "ok");
      assert.ok((await metrics(first.url)).get("ssehub_kafka_consumer_restarts_total") >= 1, "the replacement is counted");
    } finally {
      es.close();
    }
  });
});

describe("broker outage", () => {
  let server;
  let kafka;
  before(async () => {
    kafka = await kafkaSetup("outage");
    server = await startServer(ingestArgs(kafka));
    await waitReady(server);
  });
  after(async () => {
    await server?.dispose();
    // Whatever happened, the broker runs again for whoever comes next (the file's after()
    // stops it if the file started it).
    if (!(await brokerRunning())) await startBroker();
  });

  it("BrokerStoppedAndRestartedMidStreamLosesNothingAndHttpKeepsServing", { timeout: 150_000 }, async () => {
    const user = uniqueUser("outage");
    const es = await v3Stream(server, user);
    const during = producer(kafka.v3Topic); // one kcat per record, each retrying until the broker is back
    const sentDuring = [];
    let ticking = null;
    const record = (m) => `${user}:${m}`;
    try {
      const before = Array.from({ length: 5 }, (_, i) => `before-${i + 1}`);
      await produce(kafka.v3Topic, before.map(record), { key: user });
      await es.waitEvents(5, FIRST);

      // Records keep coming while the broker shuts down and while it is away.
      const sendDuring = () => {
        const m = `during-${sentDuring.length + 1}`;
        sentDuring.push(m);
        during.send([user, record(m)]);
      };
      sendDuring();
      ticking = setInterval(sendDuring, 400);
      await stopBroker();
      const notReady = await eventually(async () => {
        const r = await readyz(server);
        return r.status !== 200 ? r : false;
      }, { timeout: 15_000, interval: 100, what: "/readyz to report the outage" });
      assert.equal(notReady.status, 503);
      assert.equal(notReady.json.status, "not_ready");
      assert.equal(notReady.json.checks.kafka, "unavailable");
      assert.equal(notReady.json.checks.history, "ok");

      // HTTP keeps serving: health, metrics, streams, and publishing over the local bus.
      assert.equal((await request(`${server.url}/healthz`)).status, 200);
      await metrics(server.url);
      const httpId = await publishOk(server.url, user, "over http during the outage", { api: "v3" });
      await es.waitFor((c) => c.ids().includes(httpId), { ...WAIT, what: "the HTTP message" });
      const other = await v3Stream(server, uniqueUser("outage-other"));
      other.close();
      sendDuring();

      await startBroker();
      clearInterval(ticking);
      ticking = null;
      const afterRestart = Array.from({ length: 5 }, (_, i) => `after-${i + 1}`);
      await produce(kafka.v3Topic, afterRestart.map(record), { key: user, timeout: 60_000 });
      const exits = await during.end({ timeout: 60_000 });
      for (const { code, stderr } of exits) assert.equal(code, 0, `kcat: ${stderr}`);

      const ready = await waitReady(server, { timeout: 30_000 });
      assert.equal(ready.checks.kafka, "ok");
      const expected = [...before, ...sentDuring, ...afterRestart];
      await es.waitFor((c) => expected.every((m) => c.data().includes(m)),
                       { timeout: 60_000, what: `all ${expected.length} records` });
      const fromKafka = es.data().filter((d) => d !== "over http during the outage");
      // Records sent during the outage come from separate producers, so only the records of
      // one producer run (before, after) have an order to keep.
      assertAllArrivedInOrder(fromKafka, before, "before the outage");
      assertAllArrivedInOrder(fromKafka, afterRestart, "after the restart");
      assert.deepEqual(new Set(expected.filter((m) => !fromKafka.includes(m))), new Set(), "lost records");
      assert.equal(es.data().filter((d) => d === "over http during the outage").length, 1);
      assertIncreasing(es.ids(), "across the outage");
      const duplicates = fromKafka.length - new Set(fromKafka).size;
      console.log(`broker outage: ${expected.length} records (${sentDuring.length} sent while it stopped or was away), ` +
                  `${duplicates} duplicate(s)`);
    } finally {
      if (ticking) clearInterval(ticking);
      during.kill();
      es.close();
    }
  });
});
