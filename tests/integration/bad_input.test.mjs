// Bad requests get the right status and a JSON body {"error", "detail"}; stalled and garbage
// connections are cut off without harming anyone else.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import {
  curl, eventually, haveCurl, metrics, metricsEventually, publish, publishOk, request, showServerLogsOnFailure,
  sse, startServer, uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };
const LIMIT = 64 * 1024;

function assertJsonError(res, status, what = "") {
  assert.equal(res.status, status, `${what}: status (body ${res.body ?? ""})`);
  assert.match(res.headers["content-type"] ?? "", /^application\/json/, `${what}: content-type`);
  assert.ok(res.json && typeof res.json === "object", `${what}: body is JSON: ${res.body}`);
  assert.equal(typeof res.json.error, "string", `${what}: error field`);
  assert.ok(res.json.error.length > 0, `${what}: error field`);
  assert.equal(typeof res.json.detail, "string", `${what}: detail field`);
}

/** Opens a raw TCP connection; resolves the connected socket, with `closedAt` resolving at its close. */
async function rawSocket(port) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.received = "";
  socket.setEncoding("latin1");
  socket.on("data", (d) => (socket.received += d));
  socket.on("error", () => {});
  socket.closedAt = new Promise((resolve) => socket.once("close", () => resolve(Date.now())));
  return socket;
}

/** POST with Expect: 100-continue: sends the body only if the server says 100 Continue. */
function postExpectingContinue(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: "POST", agent: false,
      headers: { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body), Expect: "100-continue" },
    });
    let continued = false;
    req.on("continue", () => {
      continued = true;
      req.end(body);
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, continued });
      });
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error("no answer")));
    req.flushHeaders();
  });
}

describe("bad input", () => {
  let server;
  before(async () => {
    server = await startServer(["--max-streams-per-user", "2", "--request-timeout-ms", "500"]);
  });
  after(() => server?.dispose());

  it("MissingOrEmptyUsernameIs400OnV1V2V3StreamsAndMessages", T, async () => {
    const routes = [["GET", "/v1/sse"], ["GET", "/v2/sse"], ["GET", "/v3/sse"], ["POST", "/v2/message"], ["POST", "/v3/message"]];
    for (const [method, route] of routes) {
      for (const query of ["", "?username=", "?user=bob", "?username"]) {
        const res = await request(`${server.url}${route}${query}`, { method, body: method === "POST" ? "hello" : undefined });
        assertJsonError(res, 400, `${method} ${route}${query}`);
      }
    }
  });

  it("MissingUsernameIs400WithCurl", CURL, async () => {
    const res = await curl(["-s", "-w", "\\n%{http_code}", `${server.url}/v1/sse`]);
    assert.equal(res.code, 0);
    const lines = res.stdout.split("\n");
    assert.equal(lines.at(-1), "400");
    const json = JSON.parse(lines.slice(0, -1).join("\n"));
    assert.equal(typeof json.error, "string");
    assert.equal(typeof json.detail, "string");
  });

  it("UsernameLongerThan256BytesIs400AndExactly256IsAccepted", T, async () => {
    const ascii257 = "a".repeat(257);
    const accents258 = "é".repeat(129); // 258 bytes, 129 characters
    for (const name of [ascii257, accents258]) {
      assertJsonError(await request(`${server.url}/v2/sse?username=${encodeURIComponent(name)}`), 400, "sse");
      assertJsonError(await publish(server.url, name, "x"), 400, "message");
      assertJsonError(await request(`${server.url}/v1/sse?username=${encodeURIComponent(name)}`), 400, "v1");
    }
    for (const name of ["b".repeat(256), "é".repeat(128)]) {
      const stream = await sse(`${server.url}/v2/sse?username=${encodeURIComponent(name)}`);
      stream.close();
      assert.equal(stream.status, 200, `${Buffer.byteLength(name)}-byte username`);
      assert.equal((await publish(server.url, name, "x")).status, 204);
    }
  });

  it("BodyThatIsNotUtf8Is400AndIsNotDelivered", T, async () => {
    const user = uniqueUser("utf8");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      const bad = [
        Buffer.from([0xff]),
        Buffer.from([0x61, 0xc0, 0xaf]), // overlong '/'
        Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate
        Buffer.from([0x61, 0x62, 0xe2, 0x82]), // truncated sequence at the end
        Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
      ];
      for (const body of bad) assertJsonError(await publish(server.url, user, body), 400, body.toString("hex"));
      // Nothing reached the stream or took an id.
      assert.equal(await publishOk(server.url, user, "valid ✓"), 1);
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["valid ✓"]);
    } finally {
      stream.close();
    }
  });

  it("EmptyBodyIs400", T, async () => {
    const user = uniqueUser("empty");
    assertJsonError(await publish(server.url, user, ""), 400, "empty body");
    assertJsonError(await request(`${server.url}/v2/message?username=${user}`, { method: "POST" }), 400, "no body");
    assert.equal(await publishOk(server.url, user, "now one"), 1, "the refused ones took no id");
  });

  it("BodyOver64KiBIs413AndOneWhoseEventClientsCannotBufferIs413Too", T, async () => {
    const user = uniqueUser("size");
    // 61407 bytes on one line make an event of 60 KiB (--max-event-bytes), the most a Go
    // client's default 64 KiB buffer takes with room for keep-alive lines.
    assert.equal((await publish(server.url, user, "x".repeat(61407))).status, 204);
    const tooLargeForClients = await publish(server.url, user, "x".repeat(61408));
    assertJsonError(tooLargeForClients, 413, "an event of 60 KiB + 1");
    assert.equal(tooLargeForClients.json.error, "event_too_large");
    const overReadLimit = await publish(server.url, user, "x".repeat(LIMIT + 1));
    assertJsonError(overReadLimit, 413, "64 KiB + 1");
    assert.equal(overReadLimit.json.error, "body_too_large");
  });

  it("OversizedBodySentWithoutWaitingGetsIts413NotABrokenPipe", T, async () => {
    // The client writes 8 MiB at once, far more than the socket buffers hold, and reads the
    // answer only when done writing (as most HTTP clients do). The server refuses on the
    // Content-Length and must take in the rest before closing: closing with the body unread
    // resets the connection, and the client sees EPIPE or ECONNRESET instead of the 413.
    const user = uniqueUser("unread");
    for (const route of [`/v2/message?username=${user}`, "/v2/messages"]) {
      const res = await request(`${server.url}${route}`, { method: "POST", body: "u".repeat(8 * 1024 * 1024),
                                                           headers: { "Content-Type": "text/plain" } });
      assertJsonError(res, 413, `8 MiB to ${route}`);
    }
  });

  it("OversizedBodyWithExpect100ContinueIs413BeforeTheBodyIsSent", T, async () => {
    const user = uniqueUser("expect");
    const url = `${server.url}/v2/message?username=${user}`;
    const refused = await postExpectingContinue(url, "y".repeat(LIMIT + 1));
    assertJsonError(refused, 413, "Expect: 100-continue, 64 KiB + 1");
    assert.equal(refused.continued, false, "the server said 100 Continue to a body it refuses");
    const accepted = await postExpectingContinue(url, "fits");
    assert.equal(accepted.continued, true);
    assert.equal(accepted.status, 204);
  });

  it("OversizedBodyWithExpect100ContinueIs413WithCurl", CURL, async () => {
    const user = uniqueUser("expect-curl");
    const started = Date.now();
    const res = await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue",
                            "-H", "Content-Type: text/plain", "--data-binary", "@-",
                            `${server.url}/v2/message?username=${user}`], { input: "z".repeat(LIMIT + 1) });
    assert.equal(res.stdout, "413", res.stderr);
    assert.ok(Date.now() - started < 5_000);
  });

  it("HeadersLargerThan8KiBAre431", T, async () => {
    const before = await metrics(server.url);
    const res = await request(`${server.url}/v2/sse?username=x`, { headers: { "X-Padding": "p".repeat(9 * 1024) } });
    assertJsonError(res, 431, "9 KiB header");
    const many = {};
    for (let i = 0; i < 100; i++) many[`X-Header-${i}`] = "v".repeat(100);
    assertJsonError(await request(`${server.url}/healthz`, { headers: many }), 431, "100 headers of 100 bytes");
    const m = await metrics(server.url);
    assert.equal(m.get("ssehub_requests_rejected_total", { reason: "headers_too_large" }) -
                 before.get("ssehub_requests_rejected_total", { reason: "headers_too_large" }), 2);
  });

  it("UnknownRouteIs404", T, async () => {
    for (const route of ["/v2/nope", "/nope", "/v9/sse?username=x", "/v2/sse/extra?username=x", "/v2/messagez?username=x"]) {
      assertJsonError(await request(`${server.url}${route}`), 404, route);
    }
  });

  it("WrongMethodIs405WithAllowHeader", T, async () => {
    const cases = [
      ["DELETE", "/v2/sse?username=x", "GET"],
      ["POST", "/v2/sse?username=x", "GET"],
      ["GET", "/v2/message?username=x", "POST"],
      ["PUT", "/v3/message?username=x", "POST"],
      ["POST", "/v1/sse?username=x", "GET"],
      ["DELETE", "/healthz", "GET"],
    ];
    for (const [method, route, allowed] of cases) {
      const res = await request(`${server.url}${route}`, { method });
      assertJsonError(res, 405, `${method} ${route}`);
      assert.ok((res.headers.allow ?? "").split(/,\s*/).includes(allowed), `${method} ${route}: Allow ${res.headers.allow}`);
    }
  });

  it("WrongMethodIs405WithCurl", CURL, async () => {
    const res = await curl(["-s", "-i", "-X", "DELETE", `${server.url}/v2/sse?username=x`]);
    assert.match(res.stdout, /^HTTP\/1\.1 405 /);
    assert.match(res.stdout, /\r\nAllow: GET\b/i);
    assert.match(res.stdout, /"error"/);
  });

  it("ThirdStreamOfOneUserIs429WithMaxStreamsPerUser2", T, async () => {
    const user = uniqueUser("limit");
    const first = await sse(`${server.url}/v2/sse?username=${user}`);
    const second = await sse(`${server.url}/v2/sse?username=${user}`);
    let third;
    let replacement;
    try {
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      third = await sse(`${server.url}/v2/sse?username=${user}`);
      assertJsonError(third, 429, "third stream");
      // Other users, and the same name on v3, are not affected.
      const other = await sse(`${server.url}/v2/sse?username=${uniqueUser("other")}`);
      const v3 = await sse(`${server.url}/v3/sse?username=${user}`);
      other.close();
      v3.close();
      assert.equal(other.status, 200);
      assert.equal(v3.status, 200);
      // The two admitted streams still work.
      await publishOk(server.url, user, "to both");
      await first.waitEvents(1);
      await second.waitEvents(1);
      // Once one closes, a new stream is admitted.
      first.close();
      replacement = await eventually(async () => {
        const s = await sse(`${server.url}/v2/sse?username=${user}`);
        if (s.status === 200) return s;
        s.close?.();
        return false;
      }, { timeout: 5_000, what: "a stream admitted after one closed" });
      assert.equal(replacement.status, 200);
    } finally {
      first.close();
      second.close();
      third?.close?.();
      replacement?.close();
    }
  });

  it("MalformedLastEventIdIs400", T, async () => {
    const user = uniqueUser("bad-id");
    for (const value of ["abc", "-1", "1.5", "0x10", "12abc"]) {
      assertJsonError(await request(`${server.url}/v2/sse?username=${user}`, { headers: { "Last-Event-ID": value } }),
                      400, `Last-Event-ID: ${value}`);
      assertJsonError(await request(`${server.url}/v2/sse?username=${user}&lastEventId=${encodeURIComponent(value)}`),
                      400, `lastEventId=${value}`);
    }
  });

  it("StalledPartialRequestIsCutOffAfterTheRequestTimeout", T, async () => {
    const before = await metrics(server.url);
    const headerStall = await rawSocket(server.port);
    const bodyStall = await rawSocket(server.port);
    const started = Date.now();
    headerStall.write("GET /v2/sse?username=stall HTTP/1.1\r\nHost: localhost\r\n"); // no blank line
    bodyStall.write("POST /v2/message?username=stall HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\nonly part");
    try {
      const [a, b] = await within(5_000, Promise.all([headerStall.closedAt, bodyStall.closedAt]), "stalled sockets to close");
      for (const at of [a, b]) {
        assert.ok(at - started >= 400, `closed after ${at - started} ms, before the 500 ms timeout`);
        assert.ok(at - started < 4_000, `closed after ${at - started} ms`);
      }
      await metricsEventually(server.url, (m) =>
        m.get("ssehub_requests_rejected_total", { reason: "timeout" }) >=
          before.get("ssehub_requests_rejected_total", { reason: "timeout" }) + 2, { what: "2 timeouts counted" });
    } finally {
      headerStall.destroy();
      bodyStall.destroy();
    }
  });

  it("AKeepAliveConnectionIsCutOffOneRequestTimeoutAfterItsLastAnswerNotItsFirst", T, async () => {
    // Requests 300 ms apart keep a connection well past its first 500 ms deadline; once it
    // goes quiet, it is closed one timeout after its last answer.
    const socket = await rawSocket(server.port);
    try {
      let lastAnswer = 0;
      for (let i = 1; i <= 4; i++) {
        socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        await eventually(() => (socket.received.match(/HTTP\/1\.1 200 /g) ?? []).length === i,
                         { what: `answer ${i}`, timeout: 2_000 });
        lastAnswer = Date.now();
        if (i < 4) await new Promise((r) => setTimeout(r, 300));
      }
      const closedAt = await within(5_000, socket.closedAt, "the quiet connection to close");
      assert.ok(closedAt - lastAnswer >= 400, `closed ${closedAt - lastAnswer} ms after its last answer`);
      assert.ok(closedAt - lastAnswer < 4_000, `closed ${closedAt - lastAnswer} ms after its last answer`);
    } finally {
      socket.destroy();
    }
  });

  it("RequestTimeoutDoesNotCutOffOpenStreams", T, async () => {
    const user = uniqueUser("long-stream");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      // Three request timeouts (500 ms) later the stream is still open and still delivers.
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(stream.ended, false);
      await publishOk(server.url, user, "late");
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["late"]);
    } finally {
      stream.close();
    }
  });

  it("HeadRequestGetsAResponseWithoutBody", T, async () => {
    // RFC 9110 9.3.2: a response to HEAD ends with its header section. Bytes after it would be
    // read as the next response on a keep-alive connection, so pipeline a GET behind it.
    for (const target of ["/v2/sse?username=x", "/healthz", "/nope"]) {
      const socket = await rawSocket(server.port);
      try {
        socket.write(`HEAD ${target} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        await within(5_000, socket.closedAt, "both responses");
        const firstHeadEnd = socket.received.indexOf("\r\n\r\n");
        assert.ok(firstHeadEnd > 0, JSON.stringify(socket.received));
        const afterHead = socket.received.slice(firstHeadEnd + 4);
        assert.ok(afterHead.startsWith("HTTP/1.1 200 "),
                  `HEAD ${target}: bytes after the response head: ${JSON.stringify(afterHead.slice(0, 120))}`);
      } finally {
        socket.destroy();
      }
    }
  });

  it("GarbageBytesCloseOnlyThatConnection", T, async () => {
    const user = uniqueUser("garbage");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`);
    const garbage = await rawSocket(server.port);
    try {
      garbage.write(Buffer.from("\x00\x01garbage\r\n\r\n", "latin1"));
      await within(5_000, garbage.closedAt, "the garbage connection to close");
      if (garbage.received !== "") assert.match(garbage.received, /^HTTP\/1\.1 400 /);
      // Everyone else is fine.
      await publishOk(server.url, user, "still here");
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["still here"]);
      assert.equal(stream.ended, false);
      assert.equal((await request(`${server.url}/healthz`)).status, 200);
      assert.ok(server.running);
    } finally {
      stream.close();
      garbage.destroy();
    }
  });
});
