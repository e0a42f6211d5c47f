// POST /v2/messages and /v3/messages: many messages in one request, one group commit.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request, showServerLogsOnFailure, sse, startServer, uniqueUser } from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };

describe("batch publishing", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  const postBatch = (batch, api = "v2") =>
    request(`${server.url}/${api}/messages`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: typeof batch === "string" ? batch : JSON.stringify(batch),
    });

  it("BatchDeliversEachMessageToItsUserInOrderWithPerUserIds", T, async () => {
    const alice = uniqueUser("alice"), bob = uniqueUser("bob");
    const aliceStream = await sse(`${server.url}/v2/sse?username=${alice}`);
    const bobStream = await sse(`${server.url}/v2/sse?username=${bob}`);
    try {
      const res = await postBatch([
        { username: alice, message: "a1" },
        { username: bob, message: "b1" },
        { username: alice, message: "a2\nsecond line" },
      ]);
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(res.json.ids, [1, 1, 2]);
      await aliceStream.waitFor((s) => s.events.length === 2, { what: "alice's two events" });
      await bobStream.waitFor((s) => s.events.length === 1, { what: "bob's event" });
      assert.deepEqual(aliceStream.events.map((e) => [e.idField, e.data]), [["1", "a1"], ["2", "a2\nsecond line"]]);
      assert.deepEqual(bobStream.events.map((e) => [e.idField, e.data]), [["1", "b1"]]);
    } finally {
      aliceStream.close();
      bobStream.close();
    }
  });

  it("InvalidBatchIsRefusedWholeNamingTheBadMessage", T, async () => {
    const user = uniqueUser("whole");
    for (const [body, fragment] of [
      ["not json", "JSON array"],
      [{ username: user, message: "x" }, "JSON array"],
      [[], "empty"],
      [[{ username: user, message: "ok" }, { username: "", message: "x" }], "message 1"],
      [[{ username: user }], "message 0"],
      [[{ username: user, message: "" }], "empty"],
    ]) {
      const res = await postBatch(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error, "invalid_batch");
      assert.match(res.json.detail, new RegExp(fragment));
    }
    // Nothing of a refused batch was stored: the user's first accepted event is id 1.
    const res = await postBatch([{ username: user, message: "first" }]);
    assert.deepEqual(res.json.ids, [1]);
  });

  it("BatchBodyMayExceedTheSingleMessageLimitUpToItsOwn", T, async () => {
    // A single message is limited to 64 KiB (--max-body-bytes); a batch body to 1 MiB
    // (--max-batch-bytes), so a batch can carry many messages of the largest size.
    const user = uniqueUser("big");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      const big = (i) => `${i}`.padEnd(60_000, "x");
      const batch = Array.from({ length: 5 }, (_, i) => ({ username: user, message: big(i) }));
      const res = await postBatch(batch);
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(res.json.ids, [1, 2, 3, 4, 5]);
      await stream.waitFor((s) => s.events.length === 5, { what: "the five large events" });
      assert.deepEqual(stream.events.map((e) => e.data), batch.map((m) => m.message));

      const tooBig = Array.from({ length: 18 }, (_, i) => ({ username: user, message: big(i) }));
      const refused = await postBatch(tooBig);
      assert.equal(refused.status, 413);
      assert.equal(refused.json.error, "body_too_large");
      assert.match(refused.json.detail, /1048576 bytes/);
      // The single-message route keeps its own, smaller limit.
      const single = await request(`${server.url}/v2/message?username=${user}`, { method: "POST", body: big(0) + "y".repeat(6_000) });
      assert.equal(single.status, 413);
      assert.match(single.json.detail, /65536 bytes/);
      // Each message is held to the event size clients can buffer, as on the single route;
      // the refusal names the message and stores nothing of the batch.
      const lines = "l\n".repeat(9_000); // 18 KB of text, 63 KB as sent
      const unbufferable = await postBatch([{ username: user, message: "fine" }, { username: user, message: lines }]);
      assert.equal(unbufferable.status, 400);
      assert.equal(unbufferable.json.error, "invalid_batch");
      assert.match(unbufferable.json.detail, /^message 1: .*--max-event-bytes/);
      const next = await postBatch([{ username: user, message: "next" }]);
      assert.deepEqual(next.json.ids, [6]);
    } finally {
      stream.close();
    }
  });
});
