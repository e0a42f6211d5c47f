// GET /v2/sse and /v3/sse, POST /v2/message and /v3/message: per-user streams, fan-out to
// every open stream of the user, per-user ids, keep-alives, publisher connection reuse.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import {
  curl, curlSse, eventSource, eventually, haveCurl, metrics, metricsEventually, publish, publishOk, range,
  request, showServerLogsOnFailure, sleep, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };

describe("v2/v3 streams and publishing", () => {
  let server;
  before(async () => {
    server = await startServer(["--keepalive-ms", "300", "--retry-ms", "200"]);
  });
  after(() => server?.dispose());

  const streamUrl = (user, api = "v2") => `${server.url}/${api}/sse?username=${encodeURIComponent(user)}`;

  it("V2StreamStartsWithRetryHintAndEventStreamHeaders", T, async () => {
    const stream = await sse(streamUrl(uniqueUser()));
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["content-type"], "text/event-stream");
      assert.equal(stream.headers["cache-control"], "no-cache");
      assert.equal(stream.headers["x-accel-buffering"], "no");
      // Chunked: an end of the body without the last chunk is an error to the client (which
      // then reconnects), not a normal end.
      assert.equal(stream.headers["transfer-encoding"], "chunked");
      assert.equal(stream.headers["content-length"], undefined);
    } finally {
      stream.close();
    }
  });

  it("TheRetryHintRidesInTheBlockOfTheFirstEvent", T, async () => {
    // A block of its own reaches several client libraries as an empty message, and r3labs/sse
    // hands a half-received block over when the connection breaks: the hint waits for an event.
    const user = uniqueUser("hint");
    const stream = await sse(streamUrl(user));
    try {
      await stream.waitFor((s) => s.comments.length >= 2, { what: "two keep-alives" });
      assert.deepEqual(stream.retries, []);
      await publishOk(server.url, user, "first");
      await publishOk(server.url, user, "second");
      await stream.waitEvents(2);
      assert.deepEqual(stream.retries, [200]);
      assert.match(stream.text, /^(: keep-alive-text\n)+retry: 200\nid: 1\ndata: first\n\n/);
      assert.equal(stream.text.split("retry:").length, 2, "the hint is sent once");
    } finally {
      stream.close();
    }
  });

  it("AnHttp10ClientGetsAStreamThatTheConnectionEnds", T, async () => {
    // HTTP/1.0 has no chunks: the body is the bytes until the connection closes.
    const user = uniqueUser("http10");
    const socket = net.connect(server.port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (text += chunk));
    socket.write(`GET /v2/sse?username=${user} HTTP/1.0\r\n\r\n`);
    try {
      await eventually(() => text.includes("\r\n\r\n"), { what: "the stream's head" });
      await publishOk(server.url, user, "over 1.0");
      await eventually(() => text.includes("data: over 1.0\n\n"), { what: "the event" });
      const [head, body] = text.split("\r\n\r\n");
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.doesNotMatch(head, /transfer-encoding/i);
      assert.equal(body.replaceAll(": keep-alive-text\n", ""), "retry: 200\nid: 1\ndata: over 1.0\n\n");
    } finally {
      socket.destroy();
    }
  });

  it("PublishAnswers204WithEventIdAndReachesEveryTabOfTheUserOnly", T, async () => {
    const user = uniqueUser("tabs");
    const other = uniqueUser("other");
    const tab1 = await sse(streamUrl(user));
    const tab2 = eventSource(streamUrl(user));
    const bystander = await sse(streamUrl(other));
    try {
      await tab2.waitFor((c) => c.opens === 1, { what: "EventSource open" });
      await metricsEventually(server.url, (m) => m.get("ssehub_streams_open") >= 3, { what: "3 streams" });
      const before = await metrics(server.url);
      const answers = [];
      for (const text of ["one", "two", "three"]) answers.push(await publish(server.url, user, text));
      for (const [i, res] of answers.entries()) {
        assert.equal(res.status, 204, res.body);
        assert.equal(res.body, "");
        assert.equal(res.headers["x-event-id"], String(i + 1));
      }
      await tab1.waitEvents(3);
      await tab2.waitEvents(3);
      assert.deepEqual(tab1.data(), ["one", "two", "three"]);
      assert.deepEqual(tab1.ids(), [1, 2, 3]);
      assert.deepEqual(tab2.data(), ["one", "two", "three"]);
      assert.deepEqual(tab2.events.map((e) => e.lastEventId), ["1", "2", "3"]);
      assert.ok(tab1.textWithoutKeepAlives.includes("id: 1\ndata: one\n\nid: 2\ndata: two\n\nid: 3\ndata: three\n\n"),
                JSON.stringify(tab1.text));

      // The bystander got none of it: its first event is its own, with its own id 1.
      assert.equal(await publishOk(server.url, other, "for other"), 1);
      await bystander.waitEvents(1);
      assert.deepEqual(bystander.data(), ["for other"]);
      assert.deepEqual(bystander.ids(), [1]);

      const m = await metricsEventually(
        server.url, (m) => m.get("ssehub_events_delivered_total") >= before.get("ssehub_events_delivered_total") + 7,
        { what: "7 deliveries counted" });
      assert.equal(m.get("ssehub_events_accepted_total") - before.get("ssehub_events_accepted_total"), 4);
      assert.equal(m.get("ssehub_events_delivered_total") - before.get("ssehub_events_delivered_total"), 7);
    } finally {
      tab1.close();
      tab2.close();
      bystander.close();
    }
  });

  it("ClosingOneTabLeavesTheOtherTabReceiving", T, async () => {
    const user = uniqueUser("close-one");
    // Streams the earlier tests closed count until the server has noticed each close.
    const base = await metricsEventually(server.url, (m) => m.get("ssehub_streams_open") === 0,
                                         { what: "earlier streams closed" });
    const tab1 = await sse(streamUrl(user));
    const tab2 = await sse(streamUrl(user));
    try {
      await metricsEventually(server.url, (m) =>
        m.get("ssehub_streams_open") === base.get("ssehub_streams_open") + 2 &&
        m.get("ssehub_users_connected") === base.get("ssehub_users_connected") + 1, { what: "2 streams, 1 user" });
      await publishOk(server.url, user, "both");
      await tab1.waitEvents(1);
      await tab2.waitEvents(1);
      tab1.close();
      await metricsEventually(server.url, (m) =>
        m.get("ssehub_streams_open") === base.get("ssehub_streams_open") + 1 &&
        m.get("ssehub_users_connected") === base.get("ssehub_users_connected") + 1,
      { what: "1 stream left, user still connected" });
      assert.equal(await publishOk(server.url, user, "only two"), 2);
      await tab2.waitEvents(2);
      assert.deepEqual(tab2.data(), ["both", "only two"]);
      assert.deepEqual(tab2.ids(), [1, 2]);
      assert.equal(tab2.ended, false);
      tab2.close();
      await metricsEventually(server.url, (m) =>
        m.get("ssehub_streams_open") === base.get("ssehub_streams_open") &&
        m.get("ssehub_users_connected") === base.get("ssehub_users_connected"),
      { what: "streams and users back to the baseline" });
    } finally {
      tab1.close();
      tab2.close();
    }
  });

  it("EventIdsIncreaseFromOnePerUser", T, async () => {
    const alice = uniqueUser("alice");
    const bob = uniqueUser("bob");
    const ids = { [alice]: [], [bob]: [] };
    for (const user of [alice, bob, alice, alice, bob, alice]) ids[user].push(await publishOk(server.url, user, "x"));
    assert.deepEqual(ids[alice], [1, 2, 3, 4]);
    assert.deepEqual(ids[bob], [1, 2]);
  });

  it("V3IsASeparateNamespaceFromV2", T, async () => {
    const user = uniqueUser("ns");
    const v2 = await sse(streamUrl(user, "v2"));
    const v3 = await sse(streamUrl(user, "v3"));
    try {
      assert.equal(v3.status, 200);
      assert.equal(await publishOk(server.url, user, "to v2 #1"), 1);
      assert.equal(await publishOk(server.url, user, "to v3 #1", { api: "v3" }), 1);
      assert.equal(await publishOk(server.url, user, "to v3 #2", { api: "v3" }), 2);
      assert.equal(await publishOk(server.url, user, "to v2 #2"), 2);
      await v2.waitEvents(2);
      await v3.waitEvents(2);
      assert.deepEqual(v2.data(), ["to v2 #1", "to v2 #2"]);
      assert.deepEqual(v2.ids(), [1, 2]);
      assert.deepEqual(v3.data(), ["to v3 #1", "to v3 #2"]);
      assert.deepEqual(v3.ids(), [1, 2]);
    } finally {
      v2.close();
      v3.close();
    }
  });

  it("KeepAliveCommentIsSentAfterSilenceOnly", T, async () => {
    const user = uniqueUser("ka");
    const stream = await sse(streamUrl(user));
    try {
      await stream.waitFor((s) => s.comments.length >= 1, { timeout: 3_000, what: "a keep-alive" });
      assert.equal(stream.comments[0].text, "keep-alive-text");
      assert.ok(stream.text.startsWith(": keep-alive-text\n"), JSON.stringify(stream.text));
      // Over about 1.5 s of silence at 300 ms: a handful, not one per tick. Bounded by the time
      // that really passed: a loaded machine may sleep longer than asked.
      const start = stream.comments.length;
      const slept = Date.now();
      await sleep(1_500);
      const elapsed = Date.now() - slept;
      const more = stream.comments.length - start;
      assert.ok(more >= 1 && more <= Math.ceil(elapsed / 300) + 1,
                `${more} keep-alives in ${elapsed} ms with --keepalive-ms 300`);
      // An event restarts the silence; keep-alives follow it again.
      await publishOk(server.url, user, "event");
      await stream.waitEvents(1);
      const after = stream.comments.length;
      await stream.waitFor((s) => s.comments.length > after, { timeout: 3_000, what: "a keep-alive after the event" });
    } finally {
      stream.close();
    }
  });

  it("V2StreamAndPublishWorkWithCurl", CURL, async () => {
    const user = uniqueUser("curl");
    const stream = curlSse(streamUrl(user), ["-i"]);
    try {
      await stream.waitFor((s) => s.status === 200, { what: "curl: the response head" });
      assert.equal(stream.headers["content-type"], "text/event-stream");
      const res = await curl(["-s", "-i", "-X", "POST", "-H", "Content-Type: text/plain",
                              "--data-binary", "hello from curl",
                              `${server.url}/v2/message?username=${encodeURIComponent(user)}`]);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^HTTP\/1\.1 204 /);
      assert.match(res.stdout, /\r\nX-Event-Id: 1\r\n/i);
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["hello from curl"]);
      assert.ok(stream.text.includes("id: 1\ndata: hello from curl\n\n"));
    } finally {
      await stream.close();
    }
  });

  it("V3StreamAndPublishWorkWithCurl", CURL, async () => {
    const user = uniqueUser("curl3");
    const stream = curlSse(streamUrl(user, "v3"));
    try {
      await stream.waitFor((s) => s.status === 200, { what: "curl: the response head" });
      const res = await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "v3 via curl",
                              `${server.url}/v3/message?username=${encodeURIComponent(user)}`]);
      assert.equal(res.stdout, "204");
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["v3 via curl"]);
      assert.deepEqual(stream.ids(), [1]);
    } finally {
      await stream.close();
    }
  });

  it("PublisherCanSendSeveralMessagesOnOneConnectionWithCurl", CURL, async () => {
    const user = uniqueUser("reuse-curl");
    const stream = await sse(streamUrl(user));
    try {
      const url = `${server.url}/v2/message?username=${encodeURIComponent(user)}`;
      const res = await curl(["-s", "-w", "%{http_code} %{num_connects}\\n", "--data-binary", "same body",
                              url, url, url, url]);
      assert.equal(res.code, 0, res.stderr);
      // One connection made for the first request, reused (0 new) by the other three.
      assert.deepEqual(res.stdout.trim().split("\n"), ["204 1", "204 0", "204 0", "204 0"]);
      await stream.waitEvents(4);
      assert.deepEqual(stream.ids(), [1, 2, 3, 4]);
    } finally {
      stream.close();
    }
  });

  it("PublisherCanSendSeveralMessagesOnOneConnectionWithNodeKeepAliveAgent", T, async () => {
    const user = uniqueUser("reuse-node");
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [];
      for (let i = 1; i <= 5; i++) answers.push(await publish(server.url, user, `m${i}`, { agent }));
      assert.deepEqual(answers.map((a) => a.status), [204, 204, 204, 204, 204]);
      assert.deepEqual(answers.map((a) => a.id), range(1, 5));
      const sockets = new Set(answers.map((a) => a.socket));
      assert.equal(sockets.size, 1, "every POST should travel on the same connection");
      // And a stream opened on the same kind of connection afterwards still works.
      const res = await request(`${server.url}/healthz`, { agent });
      assert.equal(res.status, 200);
      assert.equal(res.socket, answers[0].socket);
    } finally {
      agent.destroy();
    }
  });

  it("EventSourceReceivesPublishedMessagesWithLastEventId", T, async () => {
    const user = uniqueUser("es");
    const client = eventSource(streamUrl(user));
    try {
      await client.waitFor((c) => c.opens === 1, { what: "open" });
      await publishOk(server.url, user, "first");
      await publishOk(server.url, user, "second");
      await client.waitEvents(2);
      assert.deepEqual(client.events.map((e) => [e.data, e.lastEventId]), [["first", "1"], ["second", "2"]]);
    } finally {
      client.close();
    }
  });
});

describe("v2 keep-alives over a long silence", () => {
  let server;
  before(async () => {
    server = await startServer(["--keepalive-ms", "5", "--retry-ms", "200"]);
  });
  after(() => server?.dispose());

  it("KeepAliveLinesNeverEndABlockHoweverLongTheSilence", T, async () => {
    // A blank line without data would reach several client libraries as an empty message. The
    // lines pile up in a Go client's 64 KiB block buffer until the next event; one that does
    // not fit makes it reconnect and resume (nothing lost), so nothing ends the block early.
    const user = uniqueUser("silence");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      await stream.waitFor((s) => s.text.length > 8 * 1024, { timeout: 15_000, what: "8 KiB of keep-alives" });
      assert.equal(stream.ended, false);
      assert.doesNotMatch(stream.text, /\n\n/, "a block ended without data");
      assert.ok(stream.text.split("\n").slice(0, -1).every((l) => l === ": keep-alive-text"));
      await publishOk(server.url, user, "after the silence");
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["after the silence"]);
      assert.match(stream.text, /: keep-alive-text\nretry: 200\nid: 1\ndata: after the silence\n\n$/);
    } finally {
      stream.close();
    }
  });
});

describe("v2 defaults", () => {
  let server;
  before(async () => {
    server = await startServer([], { baseArgs: ["--threads", "2"] });
  });
  after(() => server?.dispose());

  it("RetryHintDefaultsTo3000Ms", T, async () => {
    const user = uniqueUser();
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      await publishOk(server.url, user, "one");
      await stream.waitEvents(1);
      assert.deepEqual(stream.retries, [3000]);
      assert.ok(stream.textWithoutKeepAlives.startsWith("retry: 3000\nid: 1\n"), JSON.stringify(stream.text));
    } finally {
      stream.close();
    }
  });
});
