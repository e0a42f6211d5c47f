// Chaos: the Kafka broker stops and starts again while ssehub is under load, and ssehub itself
// is killed while it ingests. Whatever Kafka holds must reach the clients, none of it twice,
// including a client that drops its stream during the outage and resumes by id; /readyz must
// say "not ready" while the broker is away and "ready" once it is back.
//
// The suite runs a broker of its own (scripts/kafka on CHAOS_KAFKA_PORT, default 19092, data in
// /tmp/ssehub-chaos-kafka), so stopping it disturbs no other suite; it is stopped at the end.

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Ledger, PrivateKafka, ResumingSubscriber, auditSubscriber, eventually, httpPublish, keepAliveAgent, metrics, publish,
  readyz, readyzBecomes, showServerLogsOnFailure, sleep, startPublishers, startServer, uniqueUser,
} from "./lib/chaos.mjs";

showServerLogsOnFailure();
const T = { timeout: 120_000 };
const unique = (prefix) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/** Waits until `predicate()` holds, polling every 20 ms; fails with `what` after `timeout`. */
async function until(predicate, timeout, what) {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Writes `username:message` records keyed by user (so one user's records keep their order in
 * one partition) from a kcat that stays running through outages, every `everyMs`.
 */
function v3Load(kafka, topic, users, { everyMs = 5 } = {}) {
  const producer = kafka.producer(topic);
  let n = 0;
  const timer = setInterval(() => {
    const user = users[n % users.length];
    producer.send(user, `${user}:v3 record ${++n}`);
  }, everyMs);
  return {
    get produced() {
      return n;
    },
    async stop() {
      clearInterval(timer);
      const exit = await producer.end({ timeout: 60_000 });
      assert.equal(exit.code, 0, `kcat producer: ${exit.stderr}`);
    },
  };
}

/** What Kafka holds of `topic`, per user: the messages in partition order. */
async function v3Truth(kafka, topic) {
  const truth = new Map();
  for (const record of await kafka.consumeAll(topic)) {
    const colon = record.value.indexOf(":");
    const user = record.value.slice(0, colon);
    if (!truth.has(user)) truth.set(user, []);
    truth.get(user).push(record.value.slice(colon + 1));
  }
  return truth;
}

/** Compares what a v3 subscriber got with what Kafka holds for its user. */
function auditV3(sub, expected) {
  const problems = [];
  const ids = sub.ids();
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] <= ids[i - 1]) problems.push(`${sub.name}: id ${ids[i]} after ${ids[i - 1]}`);
  }
  const got = sub.events.map((e) => e.data);
  const count = (list) => {
    const counts = new Map();
    for (const data of list) counts.set(data, (counts.get(data) ?? 0) + 1);
    return counts;
  };
  // Compared with how often Kafka holds each record: a producer's retry may have stored one twice.
  const seen = count(got);
  const held = count(expected);
  const duplicated = [...seen].filter(([data, n]) => n > (held.get(data) ?? 0));
  if (duplicated.length > 0) {
    problems.push(`${sub.name}: ${duplicated.length} records delivered more often than Kafka holds them, e.g. ` +
                  duplicated.slice(0, 3).map(([d, n]) => `${JSON.stringify(d)} x${n} (held x${held.get(d) ?? 0})`).join(", "));
  }
  const missing = expected.filter((data) => !seen.has(data));
  if (missing.length > 0) problems.push(`${sub.name}: ${missing.length} records never delivered, e.g. ${JSON.stringify(missing.slice(0, 3))}`);
  if (duplicated.length === 0 && missing.length === 0 && JSON.stringify(got) !== JSON.stringify(expected)) {
    problems.push(`${sub.name}: records delivered in another order than Kafka holds them`);
  }
  return problems;
}

describe("Kafka outages under load", () => {
  const kafka = new PrivateKafka();
  const servers = [];
  const closers = [];
  before(() => kafka.start({ fresh: true }), { timeout: 300_000 });
  after(() => kafka.stop(), { timeout: 70_000 });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    for (const server of servers.splice(0)) await server.dispose();
    if (!(await kafka.running())) await kafka.start(); // a failed test may have left it stopped
  }, { timeout: 70_000 });

  it("V3IngestAcrossABrokerRestartLosesNothingAndDeliversNothingTwice", { timeout: 180_000 }, async () => {
    const v3Topic = unique("chaos-v3");
    await kafka.ensureTopic(v3Topic);
    const server = await startServer(["--kafka-brokers", kafka.brokers, "--kafka-group", unique("chaos-group"),
                                      "--kafka-v3-topic", v3Topic, "--kafka-v4-topic", unique("chaos-v4")]);
    servers.push(server);
    await readyzBecomes(server, 200, { timeout: 30_000 });
    const users = [1, 2, 3].map(() => uniqueUser("v3"));
    const subscribers = [];
    for (const user of users) {
      for (let i = 0; i < 2; i++) {
        const sub = await new ResumingSubscriber(() => `${server.url}/v3/sse?username=${encodeURIComponent(user)}`,
                                                 { from: 0, name: `${user}/sub${i}` }).start();
        closers.push(() => sub.close());
        subscribers.push({ user, sub });
      }
    }

    const load = v3Load(kafka, v3Topic, users);
    closers.push(() => load.stop().catch(() => {}));
    await until(() => subscribers.every(({ sub }) => sub.events.length >= 50), 15_000, "ingestion under way");

    await kafka.stop();
    // Checked at the end, so that a readiness failure does not hide the delivery checks.
    const readiness = [];
    const during = await readyzBecomes(server, 503, { timeout: 8_000 }).catch(async () => (await readyz(server)).json);
    if (during?.checks?.kafka !== "unavailable") readiness.push(`/readyz 8 s into the outage: ${JSON.stringify(during)}`);
    // Half the subscribers drop their streams during the outage and resume by id.
    for (const { sub } of subscribers.filter((_, i) => i % 2 === 1)) sub.drop();
    // Longer than the consumer's session timeout (10 s): the consumer loses its assignment
    // and must rejoin, the path where librdkafka can fence a static member (it once stopped
    // ingestion for good, see "a fenced consumer" in integration/kafka_ingest.test.mjs).
    await sleep(12_000);
    await kafka.start();
    await readyzBecomes(server, 200, { timeout: 30_000 });
    const producedAtRestart = load.produced;
    await until(() => load.produced >= producedAtRestart + 300, 10_000, "more records after the restart");
    await load.stop();

    const truth = await v3Truth(kafka, v3Topic);
    const problems = [];
    // One deadline for all, well inside the test's timeout, so a stalled ingestion ends in
    // the audit's account of what is missing rather than in a bare timeout.
    const deadline = Date.now() + 40_000;
    for (const { user, sub } of subscribers) {
      const expected = truth.get(user) ?? [];
      await sub.waitFor((s) => s.events.length >= expected.length,
                        { timeout: Math.max(1, deadline - Date.now()), what: `${expected.length} records` })
        .catch(() => {});
      await sleep(300); // anything delivered twice arrives now
      problems.push(...auditV3(sub, expected));
    }
    const total = [...truth.values()].reduce((n, list) => n + list.length, 0);
    const heldTwice = [...truth.values()].reduce((n, list) => n + list.length - new Set(list).size, 0);
    assert.deepEqual([...problems, ...readiness], [], `${total} records in Kafka (${heldTwice} stored twice by the producer)`);
    const resumed = subscribers.filter(({ sub }) => sub.connections > 1).length;
    assert.ok(resumed >= 3, `only ${resumed} subscribers resumed`);
    console.log(`v3 ingest across a broker restart: ${total} records (${heldTwice} stored twice by the producer), ` +
                `each delivered as often as Kafka holds it to ${subscribers.length} subscribers`);
  });

  // The ingest thread has records fetched before the broker went away (a backlog): it stores
  // them, then must commit their offsets to a broker that is not there. /readyz must still
  // notice the outage, SIGTERM must still stop the process, and after both come back each
  // record must reach the client once, although its offset commit never happened.
  it("BrokerOutageWithAnIngestBacklogShowsInReadyzAllowsShutdownAndDeliversEachRecordOnce", T, async () => {
    const v3Topic = unique("chaos-v3-backlog");
    await kafka.ensureTopic(v3Topic);
    const users = [1, 2].map(() => uniqueUser("v3b"));
    const producer = kafka.producer(v3Topic);
    for (let i = 0; i < 20_000; i++) producer.send(users[i % 2], `${users[i % 2]}:backlog record ${i}`);
    assert.equal((await producer.end()).code, 0);
    const server = await startServer(["--kafka-brokers", kafka.brokers, "--kafka-group", unique("chaos-group"),
                                      "--kafka-v3-topic", v3Topic, "--kafka-v4-topic", unique("chaos-v4")]);
    servers.push(server);
    const subscribers = [];
    for (const user of users) {
      const sub = await new ResumingSubscriber(() => `${server.url}/v3/sse?username=${encodeURIComponent(user)}`,
                                               { from: 0, name: `${user}/sub` }).start();
      closers.push(() => sub.close());
      subscribers.push({ user, sub });
    }
    await until(() => subscribers.every(({ sub }) => sub.events.length >= 300), 20_000, "ingestion under way");
    await kafka.stop();

    const problems = [];
    try {
      await readyzBecomes(server, 503, { timeout: 8_000 });
    } catch {
      problems.push(`/readyz still answers ${JSON.stringify((await readyz(server)).json)} 8 s into the broker outage`);
    }
    try {
      const stopped = await server.stop("SIGTERM", 8_000);
      assert.equal(stopped.code, 0);
    } catch (e) {
      problems.push(`SIGTERM during the broker outage: ${e.message} (killed instead)`);
    }
    await kafka.start();
    const restartedAt = Date.now();
    await server.start();
    const truth = await v3Truth(kafka, v3Topic);
    // A member that left without a goodbye may hold its partitions until its session times
    // out (librdkafka's default is 45 s; less with static membership), so ingestion may
    // resume only that much later.
    for (const { user, sub } of subscribers) {
      const expected = truth.get(user) ?? [];
      await sub.waitFor((s) => new Set(s.events.map((e) => e.data)).size >= expected.length,
                        { timeout: 75_000, what: `${expected.length} distinct records` }).catch(() => {});
    }
    console.log(`v3 ingest resumed ${Date.now() - restartedAt} ms after the restart`);
    await sleep(300);
    for (const { user, sub } of subscribers) problems.push(...auditV3(sub, truth.get(user) ?? []));
    assert.deepEqual(problems, []);
  });

  it("BusAcrossABrokerRestartDeliversEveryAcknowledgedEventOnceOnEveryNode", T, async () => {
    const busTopic = unique("chaos-bus");
    const args = ["--bus", "kafka", "--kafka-brokers", kafka.brokers, "--bus-topic", busTopic, "--bus-partitions", "3"];
    const nodes = [await startServer(args), await startServer(args)];
    servers.push(...nodes);
    for (const node of nodes) await readyzBecomes(node, 200, { timeout: 30_000 });
    const users = [1, 2, 3, 4].map(() => uniqueUser("bus"));
    const subscribers = [];
    for (const user of users) {
      for (const [n, node] of nodes.entries()) {
        const sub = await new ResumingSubscriber(() => `${node.url}/v2/sse?username=${encodeURIComponent(user)}`,
                                                 { from: 0, name: `${user}@node${n}` }).start();
        closers.push(() => sub.close());
        subscribers.push({ user, sub });
      }
    }
    const ledger = new Ledger();
    const agents = nodes.map(() => keepAliveAgent(4));
    closers.push(() => agents.forEach((a) => a.destroy()));
    // Each node takes publishes for every user; --bus-confirm-timeout-ms is 1.5 s, so 20 s is a hang.
    const loads = nodes.map((node, n) => startPublishers({
      users, workers: 3, ledger, tag: `n${n}p`, send: httpPublish(() => node.url, { agent: agents[n], timeout: 20_000 }),
    }));
    closers.push(() => Promise.all(loads.map((l) => l.stop())));
    await until(() => ledger.totalAcked() >= 300, 15_000, "300 acknowledged publishes");

    await kafka.stop();
    for (const node of nodes) {
      // The bus and the ingest consumer probe the cluster each on its own cycle: wait until
      // the bus's check, in particular, reports the outage.
      const during = await eventually(async () => {
        const res = await readyz(node);
        return res.status === 503 && res.json?.checks?.bus === "unavailable" ? res.json : false;
      }, { timeout: 10_000, interval: 100, what: `${node.url}/readyz to report the bus unavailable` });
      assert.equal(during.status, "not_ready", JSON.stringify(during));
    }
    for (const { sub } of subscribers.filter((_, i) => i % 2 === 0)) sub.drop();
    await sleep(1_500);
    const ackedAtRestart = ledger.totalAcked();
    await kafka.start();
    for (const node of nodes) await readyzBecomes(node, 200, { timeout: 30_000 });
    await until(() => ledger.totalAcked() >= ackedAtRestart + 300, 30_000, "publishes acknowledged after the restart");
    await Promise.all(loads.map((l) => l.stop()));

    const outcomes = JSON.stringify(ledger.summary());
    for (const kind of ledger.statuses.keys()) {
      assert.ok(kind === "204" || kind === "503", `a publish ended in ${kind}: ${outcomes}`);
    }
    const markers = new Map();
    for (const user of users) {
      const body = `marker for ${user}`;
      ledger.noteSent(user, body);
      const res = await publish(nodes[0].url, user, body);
      assert.equal(res.status, 204, res.body);
      ledger.noteAck(user, res.id, body);
      markers.set(user, res.id);
    }
    const problems = [];
    let refusedButDelivered = 0;
    for (const { user, sub } of subscribers) {
      await sub.waitId(markers.get(user), { timeout: 20_000 });
      problems.push(...auditSubscriber(sub, { user, ledger }));
      const refused = ledger.refused.get(user) ?? new Set();
      refusedButDelivered += sub.events.filter((e) => refused.has(e.data)).length;
    }
    assert.deepEqual(problems, [], outcomes);
    console.log(`bus across a broker restart: ${ledger.totalAcked()} acknowledged; publish outcomes ${outcomes}; ` +
                `refused yet delivered: ${refusedButDelivered}`);
    const m = await metrics(nodes[1].url);
    assert.ok(m.get("ssehub_events_accepted_total") >= ledger.totalAcked(), "node 1 applied fewer events than were acknowledged");
  });
});
