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
});
