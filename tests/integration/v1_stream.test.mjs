// GET /v1/sse: the demo stream that says `data: hi!` at once and then at an interval, with
// `: keep-alive-text` comments in the silences.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  curlSse, eventSource, haveCurl, showServerLogsOnFailure, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };

describe("v1 demo stream (hi every 1000 ms, keep-alive after 200 ms of silence)", () => {
  let server;
  before(async () => {
    server = await startServer(["--v1-hi-interval-ms", "1000", "--v1-keepalive-ms", "200"]);
  });
  after(() => server?.dispose());

  it("V1StreamAnswersWithEventStreamHeadersAndSendsHiAtOnce", T, async () => {
    const opened = Date.now();
    const stream = await sse(`${server.url}/v1/sse?username=${uniqueUser()}`);
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["content-type"], "text/event-stream");
      assert.equal(stream.headers["cache-control"], "no-cache");
      assert.equal(stream.headers["x-accel-buffering"], "no");
      await stream.waitEvents(1, { timeout: 2_000 });
      // "At once": long before the first interval or keep-alive would be due.
      assert.ok(stream.events[0].at - opened < 900, `first hi after ${stream.events[0].at - opened} ms`);
      assert.ok(stream.text.startsWith("data: hi!\n\n"), `wire bytes: ${JSON.stringify(stream.text)}`);
      assert.equal(stream.events[0].data, "hi!");
      assert.equal(stream.events[0].type, "message");
    } finally {
      stream.close();
    }
  });

  it("V1StreamRepeatsHiEveryIntervalWithKeepAlivesInTheSilences", T, async () => {
    const stream = await sse(`${server.url}/v1/sse?username=${uniqueUser()}`);
    try {
      await stream.waitEvents(3, { timeout: 6_000 });
      const [a, b, c] = stream.events.map((e) => e.at);
      for (const gap of [b - a, c - b]) {
        // The server keeps 1000 ms between them; the client may see one late and the next on time.
        assert.ok(gap > 400 && gap < 2_500, `hi events ${gap} ms apart, expected about 1000`);
      }
      assert.deepEqual(stream.data().slice(0, 3), ["hi!", "hi!", "hi!"]);
      // Between two hi events there is 1000 ms to fill with keep-alives 200 ms apart: a few,
      // not none and not one per tick. Each is a comment line in the next hi's block (no blank
      // line of its own, which some clients would hand over as an empty message).
      const blocks = stream.text.split("\n\n").filter(Boolean);
      assert.equal(blocks[0], "data: hi!");
      for (let k = 1; k < 3; k++) {
        const lines = blocks[k].split("\n");
        assert.equal(lines.at(-1), "data: hi!", `block ${k}: ${JSON.stringify(blocks[k])}`);
        const between = lines.slice(0, -1);
        assert.ok(between.every((f) => f === ": keep-alive-text"), `unexpected lines ${JSON.stringify(between)}`);
        assert.ok(between.length >= 1 && between.length <= 7,
                  `${between.length} keep-alives between hi ${k} and ${k + 1}`);
      }
      assert.ok(stream.comments.every((c) => c.text === "keep-alive-text"));
    } finally {
      stream.close();
    }
  });

  it("V1StreamWorksWithCurl", CURL, async () => {
    const stream = curlSse(`${server.url}/v1/sse?username=${uniqueUser()}`, ["-i"]);
    try {
      await stream.waitFor((s) => s.events.length >= 1 && s.comments.length >= 1,
                           { timeout: 5_000, what: "a hi and a keep-alive" });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["content-type"], "text/event-stream");
      assert.equal(stream.headers["x-accel-buffering"], "no");
      assert.ok(stream.text.startsWith("data: hi!\n\n: keep-alive-text\n"), JSON.stringify(stream.text));
      assert.doesNotMatch(stream.text, /keep-alive-text\n\n/, "a keep-alive ended its own block");
    } finally {
      await stream.close();
    }
  });

  it("V1StreamWorksWithEventSource", T, async () => {
    const client = eventSource(`${server.url}/v1/sse?username=${uniqueUser()}`);
    try {
      await client.waitEvents(2, { timeout: 5_000 });
      assert.deepEqual(client.data().slice(0, 2), ["hi!", "hi!"]);
      assert.equal(client.opens, 1);
      assert.equal(client.es.readyState, 1);
    } finally {
      client.close();
    }
  });
});

describe("v1 demo stream with hi more often than the keep-alive", () => {
  let server;
  before(async () => {
    server = await startServer(["--v1-hi-interval-ms", "100", "--v1-keepalive-ms", "400"]);
  });
  after(() => server?.dispose());

  it("V1KeepAliveIsSentOnlyAfterSilence", T, async () => {
    const stream = await sse(`${server.url}/v1/sse?username=${uniqueUser()}`);
    try {
      await stream.waitEvents(12, { timeout: 6_000 });
      assert.equal(stream.comments.length, 0, "keep-alive sent although hi kept the stream busy");
      assert.ok(stream.data().every((d) => d === "hi!"));
    } finally {
      stream.close();
    }
  });
});
