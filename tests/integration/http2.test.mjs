// HTTP/2 (--http2) on the HTTP/1.1 port: h2c with prior knowledge and h2 by ALPN over TLS,
// through the same routes, checks and limits; event streams on HTTP/2 streams (many on one
// connection, a slow one reset alone, resume, GOAWAY on shutdown); the limits and nghttp2's
// flood defences; and h2spec's conformance suite over h2c and TLS.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { connect as connectHttp2, h2request, h2sse } from "./lib/http2.mjs";
import {
  ROOT, curl, curlSse, eventually, metrics, metricsEventually, publishOk, run, showServerLogsOnFailure,
  sse, startServer, uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 60_000 };

let dir;
let certFile;
let keyFile;
let ca;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-h2-"));
  certFile = path.join(dir, "cert.pem");
  keyFile = path.join(dir, "key.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                     "-subj", "/CN=localhost", "-keyout", keyFile, "-out", certFile]);
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  ca = await fs.readFile(certFile);
});
after(() => dir && fs.rm(dir, { recursive: true, force: true }));

const tlsArgs = () => ["--tls-cert", certFile, "--tls-key", keyFile];
const curlTls = (port) => ["--cacert", certFile, "--resolve", `localhost:${port}:127.0.0.1`];

/** An HTTP/2 client session, h2c unless `tls` (then trusting the test certificate). */
const connect = (server, { tls = false, settings = {} } = {}) => connectHttp2(server, { tls, ca, settings });

const messages = (parser) => parser.events.filter((e) => e.type === "message").map((e) => e.data);

describe("HTTP/2 over cleartext (h2c with prior knowledge)", () => {
  let server;
  before(async () => (server = await startServer(["--http2"])));
  after(() => server?.dispose());

  it("answers the routes over HTTP/2 and HTTP/1.1 on the same port", T, async () => {
    const h2 = await curl(["-s", "--http2-prior-knowledge", "-w", "\n%{http_version}", `${server.url}/healthz`]);
    assert.equal(h2.code, 0, h2.stderr);
    assert.deepEqual(h2.stdout.split("\n"), ['{"status":"ok"}', "2"]);
    const h1 = await curl(["-s", "-w", "\n%{http_version}", `${server.url}/healthz`]);
    assert.deepEqual(h1.stdout.split("\n"), ['{"status":"ok"}', "1.1"]);
    const missing = await curl(["-s", "--http2-prior-knowledge", `${server.url}/v2/nothing`]);
    assert.equal(JSON.parse(missing.stdout).error, "not_found");
  });

  it("publishes with curl and streams to curl over HTTP/2", T, async () => {
    const user = uniqueUser("h2curl");
    const stream = curlSse(`${server.url}/v2/sse?username=${user}`, ["--http2-prior-knowledge"]);
    try {
      await stream.waitFor((c) => c.status !== undefined, { what: "the stream's head" });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["content-type"], "text/event-stream");
      assert.equal(stream.headers["transfer-encoding"], undefined); // no HTTP/1.1 framing in HTTP/2
      const published = await curl(["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                                     "-H", "Content-Type: text/plain", "--data-binary", "over h2",
                                     `${server.url}/v2/message?username=${user}`]);
      assert.equal(published.stdout, "204 2");
      await stream.waitEvents(1);
      assert.deepEqual(stream.data("message"), ["over h2"]);
    } finally {
      stream.close();
    }
  });

  it("answers HEAD on a stream route with the stream's head alone", T, async () => {
    const res = await curl(["-s", "--http2-prior-knowledge", "-I", `${server.url}/v2/sse?username=${uniqueUser()}`]);
    assert.equal(res.code, 0, res.stderr); // ended: no stream was started
    assert.match(res.stdout, /^HTTP\/2 200/);
    assert.match(res.stdout, /content-type: text\/event-stream/);
  });

  it("serves nghttp, the nghttp2 project's client", T, async () => {
    const user = uniqueUser("nghttp");
    const body = path.join(dir, "nghttp-body.txt");
    await fs.writeFile(body, "from nghttp");
    const posted = await run("nghttp", ["-v", "-d", body, "-H", "content-type: text/plain",
                                        `${server.url}/v2/message?username=${user}`], { timeout: 15_000 });
    assert.equal(posted.code, 0, posted.stderr);
    assert.match(posted.stdout, /:status: 204/);
    const health = await run("nghttp", [`${server.url}/healthz`], { timeout: 15_000 });
    assert.equal(health.stdout, '{"status":"ok"}');
    const session = connect(server);
    try {
      const s = await h2sse(session, `/v2/sse?username=${user}`, { "last-event-id": "0" });
      await eventually(() => messages(s.parser).length === 1, { what: "the event nghttp published" });
      assert.deepEqual(messages(s.parser), ["from nghttp"]);
    } finally {
      session.destroy();
    }
  });

  it("carries 20 event streams on one connection, each receiving every message", T, async () => {
    const user = uniqueUser("h2many");
    const session = connect(server);
    try {
      const streams = await Promise.all(Array.from({ length: 20 }, () => h2sse(session, `/v2/sse?username=${user}`)));
      assert.ok(streams.every((s) => s.status === 200));
      const sent = ["one", "two", "three"];
      for (const text of sent) await publishOk(server.url, user, text);
      await eventually(() => streams.every((s) => messages(s.parser).length === sent.length),
                       { what: "every stream to receive 3 messages" });
      for (const s of streams) assert.deepEqual(messages(s.parser), sent);
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_streams_open", { protocol: "h2" }), 20);
      assert.equal(m.get("ssehub_streams_open", { protocol: "http/1.1" }), 0);
      // One connection carries them all (the /metrics request itself is HTTP/1.1).
      assert.equal(m.get("ssehub_http2_connections_open"), 1);
    } finally {
      session.destroy();
    }
  });

  it("labels the stream and request metrics by protocol", T, async () => {
    const user = uniqueUser("h2labels");
    const series = (m) => Object.fromEntries(["http/1.1", "h2"].map((protocol) => [protocol, {
      requests: m.get("ssehub_http_requests_total", { protocol }),
      streams: m.get("ssehub_streams_open", { protocol }),
      delivered: m.get("ssehub_events_delivered_total", { protocol }),
    }]));
    // The streams of the tests before have ended (the server may see a session's end late).
    const idle = await metricsEventually(server.url, (m) => m.get("ssehub_streams_open") === 0, { what: "no stream open" });
    const before = series(idle); // this scrape is an HTTP/1.1 request
    const h1Streams = [await sse(`${server.url}/v2/sse?username=${user}`), await sse(`${server.url}/v2/sse?username=${user}`)];
    const session = connect(server);
    try {
      const h2Streams = await Promise.all([1, 2, 3].map(() => h2sse(session, `/v2/sse?username=${user}`)));
      const published = await h2request(session, `/v2/message?username=${user}`, {
        method: "POST", headers: { "content-type": "text/plain" }, body: "counted",
      });
      assert.equal(published.status, 204);
      let now;
      await metricsEventually(server.url, (m) => {
        now = series(m);
        return now.h2.delivered === before.h2.delivered + 3 && now["http/1.1"].delivered === before["http/1.1"].delivered + 2;
      }, { what: "the event delivered to 2 HTTP/1.1 and 3 HTTP/2 streams" });
      assert.equal(now["http/1.1"].streams, before["http/1.1"].streams + 2);
      assert.equal(now.h2.streams, before.h2.streams + 3);
      // 3 streams and a publish over HTTP/2; over HTTP/1.1 2 streams and the scrapes since.
      assert.equal(now.h2.requests, before.h2.requests + 4);
      assert.ok(now["http/1.1"].requests >= before["http/1.1"].requests + 3, JSON.stringify({ before, now }));
      for (const s of h2Streams) assert.deepEqual(messages(s.parser), ["counted"]);
    } finally {
      session.destroy();
      for (const s of h1Streams) s.close();
    }
    // Closed streams leave both gauges.
    await metricsEventually(server.url, (m) => {
      const after = series(m);
      return after.h2.streams === before.h2.streams && after["http/1.1"].streams === before["http/1.1"].streams;
    }, { what: "the streams to close" });
  });

  it("resumes after Last-Event-ID over HTTP/2", T, async () => {
    const user = uniqueUser("h2resume");
    const first = await publishOk(server.url, user, "a");
    await publishOk(server.url, user, "b");
    await publishOk(server.url, user, "c");
    const resumes = (m, protocol) => m.get(`ssehub_resumes_total{protocol="${protocol}"}`);
    const before = await metrics(server.url);
    const session = connect(server);
    try {
      const s = await h2sse(session, `/v2/sse?username=${user}`, { "last-event-id": String(first) });
      await eventually(() => messages(s.parser).length === 2, { what: "the replay" });
      assert.deepEqual(messages(s.parser), ["b", "c"]);
      assert.equal(s.parser.lastEventId, String(first + 2));
      // Counted under its own protocol (other tests of this file resume over HTTP/1.1 only
      // before or after, never at once: the suite runs one test at a time).
      const after = await metrics(server.url);
      assert.equal(resumes(after, "h2") - resumes(before, "h2"), 1);
      assert.equal(resumes(after, "http/1.1"), resumes(before, "http/1.1"));
    } finally {
      session.destroy();
    }
  });

  it("refuses a header list over --max-header-bytes with 431, the connection going on", T, async () => {
    const session = connect(server);
    try {
      const big = await h2request(session, "/healthz", { headers: { "x-big": "x".repeat(9000) } });
      assert.equal(big.status, 431);
      assert.equal(big.json.error, "headers_too_large");
      const next = await h2request(session, "/healthz");
      assert.equal(next.status, 200);
    } finally {
      session.destroy();
    }
  });

  it("refuses a body over the limit with 413 before it is read", T, async () => {
    const session = connect(server);
    try {
      const res = await h2request(session, `/v2/message?username=${uniqueUser()}`, {
        method: "POST", headers: { "content-type": "text/plain", "content-length": "70000" }, body: "x".repeat(70000),
      });
      assert.equal(res.status, 413);
      assert.equal(res.json.error, "body_too_large");
    } finally {
      session.destroy();
    }
  });
});

describe("HTTP/2 limits and defences", () => {
  let server;
  before(async () => (server = await startServer(["--http2", "--http2-max-streams", "4", "--stream-queue-bytes", "8192"])));
  after(() => server?.dispose());

  it("advertises --http2-max-streams and the header list limit in SETTINGS", T, async () => {
    const session = connect(server);
    try {
      await within(5_000, new Promise((resolve) => session.once("remoteSettings", resolve)), "SETTINGS");
      assert.equal(session.remoteSettings.maxConcurrentStreams, 4);
      assert.equal(session.remoteSettings.maxHeaderListSize, 8192);
      assert.equal(session.remoteSettings.enablePush, false);
    } finally {
      session.destroy();
    }
  });

  it("resets a stream whose client stops reading, counted as an overflow; its neighbour goes on", T, async () => {
    const user = uniqueUser("h2slow");
    // Small stream windows, a large connection window: only the paused stream is held back.
    const session = connect(server, { settings: { initialWindowSize: 1024 } });
    try {
      await within(5_000, new Promise((resolve) => session.once("connect", resolve)), "connect");
      session.setLocalWindowSize(16 << 20);
      const slow = await h2sse(session, `/v2/sse?username=${user}`);
      const fast = await h2sse(session, `/v2/sse?username=${user}`);
      slow.stream.pause();
      const overflows = (m) => m.get("ssehub_queue_overflows_total", { protocol: "h2" });
      const before = overflows(await metrics(server.url));
      const payload = "y".repeat(2000);
      for (let i = 0; i < 20; i++) await publishOk(server.url, user, `${i} ${payload}`);
      const code = await within(10_000, slow.closed, "the slow stream's reset");
      assert.equal(code, http2.constants.NGHTTP2_CANCEL);
      await eventually(() => messages(fast.parser).length === 20, { what: "all 20 on the reading stream" });
      assert.equal(fast.stream.closed, false);
      const after = await metrics(server.url);
      assert.equal(overflows(after), before + 1);
      assert.equal(after.get("ssehub_queue_overflows_total", { protocol: "http/1.1" }), 0);
    } finally {
      session.destroy();
    }
  });

  it("ends a connection that resets streams faster than nghttp2's rate allows (rapid reset)", T, async () => {
    const session = connect(server);
    const resetStreams = async (n) => {
      for (let i = 0; i < n && !session.closed && !session.destroyed; i++) {
        const req = session.request({ ":path": "/healthz" });
        req.on("error", () => {});
        req.close(http2.constants.NGHTTP2_CANCEL);
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
    };
    try {
      const goaway = new Promise((resolve) => session.on("goaway", (code) => resolve(code)));
      // A few hundred resets are within the burst: the connection serves on.
      await resetStreams(300);
      assert.equal((await h2request(session, "/healthz")).status, 200);
      // Past nghttp2's burst of 1000 (refilled at 33/s), it sends GOAWAY and ends the connection.
      await resetStreams(2000);
      assert.equal(await within(10_000, goaway, "GOAWAY"), http2.constants.NGHTTP2_INTERNAL_ERROR);
      // The server itself is fine.
      assert.equal((await curl(["-s", "--http2-prior-knowledge", `${server.url}/healthz`])).stdout, '{"status":"ok"}');
    } finally {
      session.destroy();
    }
  });

  /** Raw frames on a fresh h2c connection; resolves what the server sent before closing. */
  function rawConnection(frames) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(server.port, "127.0.0.1");
      const received = [];
      socket.on("data", (d) => received.push(d));
      socket.on("error", () => {});
      socket.on("close", () => resolve(Buffer.concat(received)));
      socket.on("connect", () => socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ...frames])));
      setTimeout(() => {
        socket.destroy();
        reject(new Error("the server kept the connection open"));
      }, 10_000);
    });
  }
  const frame = (type, flags, stream, payload = Buffer.alloc(0)) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  /** The error code of the GOAWAY among `bytes` (frames from the server), or undefined. */
  function goawayCode(bytes) {
    for (let at = 0; at + 9 <= bytes.length;) {
      const length = bytes.readUIntBE(at, 3);
      if (bytes[at + 3] === 0x7) return bytes.readUInt32BE(at + 9 + 4);
      at += 9 + length;
    }
    return undefined;
  }

  it("ends a connection that sends a flood of CONTINUATION frames", T, async () => {
    // A HEADERS without END_HEADERS, then CONTINUATIONs that never end it: nghttp2 allows 8.
    const headers = frame(0x1, 0x0, 1, Buffer.from([0x82])); // :method GET, indexed
    const continuations = Array.from({ length: 50 }, () => frame(0x9, 0x0, 1, Buffer.from([0x84])));
    const bytes = await rawConnection([frame(0x4, 0, 0), headers, ...continuations]);
    assert.ok(goawayCode(bytes) !== undefined, "a GOAWAY before the close");
  });

  it("ends a connection that sends PINGs faster than it reads their answers (ping flood)", T, async () => {
    // The client never reads: PING ACKs pile up once the socket buffers are full, and past
    // 1000 queued nghttp2 gives up on the connection.
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    const closed = new Promise((resolve) => socket.on("close", resolve));
    await new Promise((resolve) => socket.on("connect", resolve));
    socket.pause();
    const ping = frame(0x6, 0x0, 0, Buffer.alloc(8));
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0)]));
    let sent = 0;
    while (!socket.destroyed && sent < 2000) {
      if (!socket.write(batch)) await Promise.race([new Promise((r) => socket.once("drain", r)), closed]);
      sent++;
    }
    await within(20_000, closed, "the server to end the connection");
    assert.ok(sent < 2000, `the server took ${sent} batches of 4096 PINGs`);
    assert.equal((await curl(["-s", "--http2-prior-knowledge", `${server.url}/healthz`])).stdout, '{"status":"ok"}');
  });

  // GET / with :authority 127.0.0.1, in HPACK (static-table indexes and one literal).
  const getRoot = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x41, 9]), Buffer.from("127.0.0.1")]);
  const END_STREAM_AND_HEADERS = 0x5;

  it("ends with PROTOCOL_ERROR a connection that opens a stream below one it used (RFC 9113 5.1.1)", T, async () => {
    const bytes = await rawConnection([frame(0x4, 0, 0), frame(0x1, END_STREAM_AND_HEADERS, 5, getRoot),
                                       frame(0x1, END_STREAM_AND_HEADERS, 3, getRoot)]);
    assert.equal(goawayCode(bytes), http2.constants.NGHTTP2_PROTOCOL_ERROR);
  });

  it("keeps a connection whose client sends trailers on a stream the server refused", T, async () => {
    // Stream 1 announces a body over the limit: answered 413 and reset before its body. The
    // client's trailers on it, sent before it saw the reset, are not a stream below the highest
    // opened, and the connection goes on to serve stream 3.
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    let received = Buffer.alloc(0);
    const frames = [];
    socket.on("data", (d) => {
      received = Buffer.concat([received, d]);
      while (received.length >= 9 && received.length >= 9 + received.readUIntBE(0, 3)) {
        const length = received.readUIntBE(0, 3);
        frames.push({ type: received[3], stream: received.readUInt32BE(5) & 0x7fffffff });
        received = received.subarray(9 + length);
      }
    });
    await new Promise((resolve) => socket.on("connect", resolve));
    try {
      const answered = (stream) => eventually(() => frames.some((f) => f.type === 0x1 && f.stream === stream),
        { timeout: 5_000, what: `the answer on stream ${stream}` });
      const path = Buffer.from("/v2/message?username=trailers");
      const post = Buffer.concat([Buffer.from([0x83, 0x86, 0x44, path.length]), path,
                                  Buffer.from([0x41, 9]), Buffer.from("127.0.0.1"),
                                  Buffer.from([0x5c, 7]), Buffer.from("9999999")]);
      socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0),
                                  frame(0x1, 0x4 /* END_HEADERS */, 1, post)]));
      await answered(1);
      socket.write(Buffer.concat([frame(0x1, END_STREAM_AND_HEADERS, 1, Buffer.from([0x40, 1, 0x78, 1, 0x79])),
                                  frame(0x1, END_STREAM_AND_HEADERS, 3, getRoot)]));
      await answered(3);
      assert.ok(!frames.some((f) => f.type === 0x7), "no GOAWAY");
    } finally {
      socket.destroy();
    }
  });

  it("ends a connection whose SETTINGS frame holds too many entries", T, async () => {
    const entries = Buffer.alloc(6 * 40);
    for (let i = 0; i < 40; i++) {
      entries.writeUInt16BE(0x3, i * 6); // MAX_CONCURRENT_STREAMS, again and again
      entries.writeUInt32BE(100, i * 6 + 2);
    }
    const bytes = await rawConnection([frame(0x4, 0, 0, entries)]);
    assert.equal(goawayCode(bytes), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });
});

describe("HTTP/2 request timeout", () => {
  let server;
  before(async () => (server = await startServer(["--http2", "--request-timeout-ms", "500"])));
  after(() => server?.dispose());

  it("resets a stream whose request does not arrive whole in time; an event stream stays", T, async () => {
    const session = connect(server);
    try {
      const live = await h2sse(session, `/v2/sse?username=${uniqueUser("h2timeout")}`);
      // A POST whose body never comes (slowloris over HTTP/2).
      const stalled = session.request({ ":method": "POST", ":path": `/v2/message?username=${uniqueUser()}`,
                                        "content-type": "text/plain" });
      stalled.on("error", () => {});
      stalled.write("half");
      const code = await within(5_000, new Promise((resolve) => stalled.on("close", () => resolve(stalled.rstCode))),
                                "the stalled stream's reset");
      assert.equal(code, http2.constants.NGHTTP2_CANCEL);
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_requests_rejected_total", { reason: "timeout" }), 1);
      assert.equal(live.stream.closed, false);
      assert.equal(session.closed, false);
    } finally {
      session.destroy();
    }
  });
});

describe("HTTP/2 over TLS (ALPN)", () => {
  let server;
  before(async () => (server = await startServer(["--http2", ...tlsArgs()])));
  after(() => server?.dispose());

  it("chooses h2 for a client that offers it and http/1.1 for one that does not", T, async () => {
    const url = `https://localhost:${server.port}/healthz`;
    const h2 = await curl(["-s", "--http2", ...curlTls(server.port), "-w", "\n%{http_version}", url]);
    assert.equal(h2.code, 0, h2.stderr);
    assert.deepEqual(h2.stdout.split("\n"), ['{"status":"ok"}', "2"]);
    const h1 = await curl(["-s", "--http1.1", ...curlTls(server.port), "-w", "\n%{http_version}", url]);
    assert.deepEqual(h1.stdout.split("\n"), ['{"status":"ok"}', "1.1"]);
  });

  it("streams and publishes over h2 with TLS", T, async () => {
    const user = uniqueUser("h2tls");
    const session = connect(server, { tls: true });
    try {
      const s = await h2sse(session, `/v2/sse?username=${user}`);
      assert.equal(s.status, 200);
      const res = await h2request(session, `/v2/message?username=${user}`, {
        method: "POST", headers: { "content-type": "text/plain" }, body: "secret",
      });
      assert.equal(res.status, 204);
      await eventually(() => messages(s.parser).length === 1, { what: "the event" });
      assert.deepEqual(messages(s.parser), ["secret"]);
    } finally {
      session.destroy();
    }
  });

  it("sends GOAWAY and ends the streams when the server stops", T, async () => {
    const session = connect(server, { tls: true });
    const s = await h2sse(session, `/v2/sse?username=${uniqueUser("h2stop")}`);
    const goaway = new Promise((resolve) => session.on("goaway", (code) => resolve(code)));
    await server.stop("SIGTERM");
    assert.equal(await within(5_000, goaway, "GOAWAY"), http2.constants.NGHTTP2_NO_ERROR);
    await within(5_000, s.closed, "the stream's end");
    session.destroy();
  });
});

describe("HTTP/2 is off by default", () => {
  let server;
  before(async () => (server = await startServer(tlsArgs())));
  after(() => server?.dispose());

  it("offers only http/1.1 by ALPN without --http2", T, async () => {
    const res = await curl(["-s", "--http2", ...curlTls(server.port), "-w", "\n%{http_version}",
                            `https://localhost:${server.port}/healthz`]);
    assert.deepEqual(res.stdout.split("\n"), ['{"status":"ok"}', "1.1"]);
  });
});

describe("h2spec", () => {
  let h2spec;
  before(async () => {
    const setup = await run(path.join(ROOT, "scripts/h2spec-setup"), [], { timeout: 300_000 });
    if (setup.code !== 0) throw new Error(`scripts/h2spec-setup failed: ${setup.stderr}`);
    h2spec = setup.stdout.trim();
  });

  // Failing h2spec cases, each with why. On h2c, an invalid preface is an HTTP/1.1 request
  // on this port (answered 400, as any malformed request), and h2spec reads the 400 as a broken
  // frame rather than a close. (5.1.1/2, a HEADERS on a lower stream id, which nghttp2 ignores,
  // passes since the session checks the ids itself: on_begin_frame.)
  const EXPECTED_FAILURES = {
    h2c: ["http2/3.5/2"],
    tls: [],
  };

  for (const mode of ["h2c", "tls"]) {
    it(`passes over ${mode} but for the listed cases`, { timeout: 300_000 }, async () => {
      const server = await startServer(["--http2", ...(mode === "tls" ? tlsArgs() : [])]);
      try {
        const report = path.join(dir, `h2spec-${mode}.xml`);
        const args = ["-h", "127.0.0.1", "-p", String(server.port), "-o", "3", "-j", report,
                      ...(mode === "tls" ? ["-t", "-k"] : [])];
        const result = await run(h2spec, args, { timeout: 240_000 });
        const summary = result.stdout.split("\n").filter((l) => /tests, \d+ passed/.test(l)).pop();
        const xml = await fs.readFile(report, "utf8");
        // <testcase package="http2/5.1.1" ...>, numbered within their package as h2spec does
        const cases = [...xml.matchAll(/<testcase package="([^"]+)"[^>]*>([\s\S]*?)<\/testcase>/g)];
        assert.ok(cases.length > 100, `h2spec ran ${cases.length} cases: ${summary}`);
        const failures = [];
        const counters = new Map();
        for (const [, section, body] of cases) {
          const n = (counters.get(section) ?? 0) + 1;
          counters.set(section, n);
          if (body.includes("<failure") || body.includes("<error")) failures.push(`${section}/${n}`);
        }
        assert.deepEqual(failures, EXPECTED_FAILURES[mode], `${summary}\n${result.stdout.slice(-3000)}`);
      } finally {
        await server.dispose();
      }
    });
  }
});
