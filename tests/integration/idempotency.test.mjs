// Idempotency-Key on POST /v2|v3/message and per item of POST /v2|v3/messages: a retry with the
// same key and content gets the original answer and id and stores nothing; the same key with
// other content is refused (422). It holds across a kill -9 (the key is kept with the event)
// and on every node of a Kafka cluster (the key travels in the bus record).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { publish, request, showServerLogsOnFailure, sleep, sse, startServer, uniqueUser } from "./lib/server.mjs";
import { uniqueName, useBroker, waitReady } from "./lib/kafka.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };

const keyed = (key) => ({ "Idempotency-Key": key });
const postBatch = (server, batch, api = "v2") =>
  request(`${server.url}/${api}/messages`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(batch),
  });

/** Every event of `user`'s stream on `server` from the start, read until `count` arrived (then 300 ms more). */
async function streamOf(server, user, count, api = "v2") {
  const stream = await sse(`${server.url}/${api}/sse?username=${encodeURIComponent(user)}`, { headers: { "Last-Event-ID": "0" } });
  try {
    await stream.waitFor((s) => s.events.length >= count, { what: `${count} events of ${user}`, timeout: 15_000 });
    await sleep(300); // a duplicate would arrive right behind
    return stream.events.map((e) => [Number(e.idField), e.data]);
  } finally {
    stream.close();
  }
}

describe("Idempotency-Key on one node", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  it("RetryWithTheSameKeyAndContentGetsTheOriginalIdAndStoresOnce", T, async () => {
    const user = uniqueUser("idem");
    const first = await publish(server.url, user, "pay 10", { headers: keyed("order-1") });
    assert.equal(first.status, 204, first.body);
    const other = await publish(server.url, user, "unkeyed");
    const retry = await publish(server.url, user, "pay 10", { headers: keyed("order-1") });
    assert.equal(retry.status, 204, retry.body);
    assert.equal(retry.id, first.id);
    assert.deepEqual(await streamOf(server, user, 2), [[first.id, "pay 10"], [other.id, "unkeyed"]]);
  });

  it("SameKeyWithOtherContentIsRefusedWith422AndStoresNothing", T, async () => {
    const user = uniqueUser("idem");
    const first = await publish(server.url, user, "pay 10", { headers: keyed("order-2") });
    assert.equal(first.status, 204, first.body);
    const reused = await publish(server.url, user, "pay 99", { headers: keyed("order-2") });
    assert.equal(reused.status, 422, reused.body);
    assert.equal(reused.json.error, "idempotency_key_reused");
    assert.match(reused.json.detail, /order-2|other content/);
    assert.deepEqual(await streamOf(server, user, 1), [[first.id, "pay 10"]]);
  });

  it("KeysBelongToOneStream", T, async () => {
    const alice = uniqueUser("alice"), bob = uniqueUser("bob");
    const a = await publish(server.url, alice, "same", { headers: keyed("shared") });
    const b = await publish(server.url, bob, "same", { headers: keyed("shared") });
    const v3 = await publish(server.url, alice, "same", { api: "v3", headers: keyed("shared") });
    for (const res of [a, b, v3]) assert.equal(res.status, 204, res.body);
    assert.deepEqual(await streamOf(server, bob, 1), [[b.id, "same"]]);
    assert.deepEqual(await streamOf(server, alice, 1, "v3"), [[v3.id, "same"]]);
  });

  it("MalformedKeysAreRefusedWith400", T, async () => {
    const user = uniqueUser("badkey");
    for (const key of ["has space", "x".repeat(256), "tab\there", "é"]) {
      const res = await publish(server.url, user, "m", { headers: keyed(key) });
      assert.equal(res.status, 400, `${JSON.stringify(key)}: ${res.body}`);
      assert.equal(res.json.error, "invalid_idempotency_key");
    }
    const longest = await publish(server.url, user, "m", { headers: keyed("k".repeat(255)) });
    assert.equal(longest.status, 204, longest.body);
  });

  it("BatchItemsCarryTheirOwnKeys", T, async () => {
    const alice = uniqueUser("alice"), bob = uniqueUser("bob");
    const batch = [
      { username: alice, message: "a1", idempotency_key: "k1" },
      { username: bob, message: "b1", idempotency_key: "k1" },
      { username: alice, message: "a2" },
    ];
    const first = await postBatch(server, batch);
    assert.equal(first.status, 200, first.body);
    const retry = await postBatch(server, [batch[0], batch[1], { username: alice, message: "a3", idempotency_key: "k3" }]);
    assert.equal(retry.status, 200, retry.body);
    assert.deepEqual(retry.json.ids.slice(0, 2), first.json.ids.slice(0, 2));
    assert.deepEqual(await streamOf(server, alice, 3), [[first.json.ids[0], "a1"], [first.json.ids[2], "a2"], [retry.json.ids[2], "a3"]]);

    const reused = await postBatch(server, [{ username: bob, message: "b-other", idempotency_key: "k1" }]);
    assert.equal(reused.status, 422, reused.body);
    assert.equal(reused.json.error, "idempotency_key_reused");
    const bad = await postBatch(server, [{ username: bob, message: "b", idempotency_key: "" }]);
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.json.detail, /message 0/);
    assert.deepEqual(await streamOf(server, bob, 1), [[first.json.ids[1], "b1"]]);
  });

  it("AKeyOutlivesAKill9", T, async () => {
    const crash = await startServer();
    try {
      const user = uniqueUser("crash");
      const first = await publish(crash.url, user, "before the crash", { headers: keyed("survives") });
      assert.equal(first.status, 204, first.body);
      await crash.kill9();
      await crash.start();
      const retry = await publish(crash.url, user, "before the crash", { headers: keyed("survives") });
      assert.equal(retry.status, 204, retry.body);
      assert.equal(retry.id, first.id);
      const reused = await publish(crash.url, user, "after the crash", { headers: keyed("survives") });
      assert.equal(reused.status, 422, reused.body);
      assert.deepEqual(await streamOf(crash, user, 1), [[first.id, "before the crash"]]);
    } finally {
      await crash.dispose();
    }
  });
});

describe("Idempotency-Key on two nodes of a Kafka bus", () => {
  useBroker();
  let A;
  let B;
  before(async () => {
    const { BROKERS } = await import("./lib/kafka.mjs");
    const args = ["--kafka-brokers", BROKERS, "--bus", "kafka", "--bus-topic", uniqueName("idem-bus"), "--bus-partitions", "3"];
    [A, B] = await Promise.all([startServer(args), startServer(args)]);
    for (const node of [A, B]) await waitReady(node);
  }, { timeout: 60_000 });
  after(async () => {
    await A?.dispose();
    await B?.dispose();
  });

  it("RetryOnAnotherNodeGetsTheOriginalIdAndEveryNodeStoresOnce", T, async () => {
    const user = uniqueUser("idem");
    const first = await publish(A.url, user, "pay 10", { headers: keyed("node-order") });
    assert.equal(first.status, 204, first.body);
    const retry = await publish(B.url, user, "pay 10", { headers: keyed("node-order") });
    assert.equal(retry.status, 204, retry.body);
    assert.equal(retry.id, first.id);
    const reused = await publish(B.url, user, "pay 99", { headers: keyed("node-order") });
    assert.equal(reused.status, 422, reused.body);
    const after = await publish(A.url, user, "next");
    assert.equal(after.status, 204, after.body);
    for (const node of [A, B]) {
      assert.deepEqual(await streamOf(node, user, 2), [[first.id, "pay 10"], [after.id, "next"]], node.url);
    }
  });

  it("TheSameKeyOnTwoNodesAtOnceGivesOneEventAndOneId", T, async () => {
    const user = uniqueUser("race");
    const answers = await Promise.all([A, B, A, B].map((node) => publish(node.url, user, "once", { headers: keyed("race") })));
    for (const res of answers) assert.equal(res.status, 204, res.body);
    assert.equal(new Set(answers.map((r) => r.id)).size, 1, JSON.stringify(answers.map((r) => r.id)));
    for (const node of [A, B]) assert.deepEqual(await streamOf(node, user, 1), [[answers[0].id, "once"]], node.url);
  });
});
