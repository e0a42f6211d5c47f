// Built-in HTTPS (--tls-cert, --tls-key): the port speaks TLS 1.2+ only, streams behave as
// over plain HTTP (events with ids, resume, keep-alives, bounded queue), plain HTTP and
// silent clients are turned away without harm, SIGTERM closes TLS streams with close_notify,
// and bad key material stops the start.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import {
  SseParser, curl, curlSse, eventually, haveCurl, parsePrometheus, range, showServerLogsOnFailure, sleep,
  startServer, uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };
const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;
const REQUEST_TIMEOUT_MS = 600;

// The certificate names localhost; every client connects to 127.0.0.1 and checks that name.
const HOST = "127.0.0.1";
const NAME = "localhost";

let dir;
let certFile;
let keyFile;
let ca;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-tls-"));
  certFile = path.join(dir, "cert.pem");
  keyFile = path.join(dir, "key.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                     "-subj", "/CN=localhost", "-keyout", keyFile, "-out", certFile]);
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  ca = await fs.readFile(certFile);
});
after(() => dir && fs.rm(dir, { recursive: true, force: true }));

const tlsArgs = (...more) => ["--tls-cert", certFile, "--tls-key", keyFile, ...more];
const curlTls = (port) => ["--cacert", certFile, "--resolve", `${NAME}:${port}:${HOST}`];
const httpsUrl = (port, p) => `https://${NAME}:${port}${p}`;

/** One HTTPS request on a connection of its own; resolves {status, headers, body, json, protocol}. */
function httpsRequest(port, p, { method = "GET", headers = {}, body, agent = false, tlsOptions = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: HOST, port, path: p, servername: NAME, ca, method, headers, agent, ...tlsOptions },
      (res) => {
        const protocol = res.socket.getProtocol?.();
        const peer = res.socket.getPeerCertificate?.();
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, body: text, json, protocol, peer });
        });
        res.on("error", reject);
      });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function publishTls(port, user, body, { agent = false } = {}) {
  const res = await httpsRequest(port, `/v2/message?username=${encodeURIComponent(user)}`, {
    method: "POST", headers: { "Content-Type": "text/plain" }, body, agent,
  });
  if (res.status !== 204) throw new Error(`publish over TLS answered ${res.status}: ${res.body}`);
  return Number(res.headers["x-event-id"]);
}

async function metricsTls(port) {
  const res = await httpsRequest(port, "/metrics");
  assert.equal(res.status, 200);
  return parsePrometheus(res.body);
}

function metricsTlsEventually(port, check, what) {
  return eventually(async () => {
    const m = await metricsTls(port);
    return check(m) ? m : false;
  }, { what });
}

/**
 * An SSE stream over HTTPS with node's https (a connection of its own; `port` may be a
 * recording proxy's). Resolves once the response head has arrived.
 */
function httpsSse(port, p, { headers = {}, tlsOptions = {} } = {}) {
  return new Promise((resolve, reject) => {
    const parser = new SseParser();
    const client = {
      parser, ended: false, endReason: null,
      ids: () => parser.events.filter((e) => e.idField !== undefined).map((e) => Number(e.idField)),
      data: () => parser.events.map((e) => e.data),
      waitFor(predicate, { timeout = 5_000, what = "condition" } = {}) {
        return within(timeout, new Promise((done, fail) => {
          const check = () => {
            if (predicate(client)) {
              parser.listeners = parser.listeners.filter((l) => l !== check);
              done(client);
            } else if (client.ended) {
              fail(new Error(`stream ended (${client.endReason}) before ${what}; ids ${client.ids()}`));
            }
          };
          parser.listeners.push(check);
          check();
        }), what);
      },
      waitEnd: (timeout = 5_000) => client.waitFor((c) => c.ended, { timeout, what: "the end of the stream" })
        .catch((e) => (client.ended ? client : Promise.reject(e))),
    };
    const end = (reason) => {
      if (client.ended) return;
      client.ended = true;
      client.endReason = reason;
      parser._notify();
    };
    const req = https.get({ host: HOST, port, path: p, servername: NAME, ca, agent: false,
                            headers: { Accept: "text/event-stream", ...headers }, ...tlsOptions }, (res) => {
      client.status = res.statusCode;
      client.headers = res.headers;
      client.socket = res.socket;
      client.close = () => req.destroy();
      res.setEncoding("utf8");
      res.on("data", (text) => parser.feed(text));
      res.on("end", () => end("end"));
      res.on("close", () => end("close"));
      res.on("error", (e) => end(`error: ${e.message}`));
      resolve(client);
    });
    req.on("error", (e) => (client.status === undefined ? reject(e) : end(`error: ${e.message}`)));
  });
}

/**
 * A TCP proxy to the server that records what the server sends, to look at the TLS records
 * themselves. Resolves {port, received: () => Buffer, close()}.
 */
async function recordingProxy(serverPort) {
  const received = [];
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(serverPort, HOST);
    sockets.add(client).add(upstream);
    client.on("data", (c) => upstream.write(c));
    upstream.on("data", (c) => {
      received.push(c);
      client.write(c);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, HOST, resolve));
  return {
    port: proxy.address().port,
    received: () => Buffer.concat(received),
    close: () => {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}

/** Content types of the TLS records in `bytes` (20 change_cipher_spec, 21 alert, 22 handshake, 23 data). */
function recordTypes(bytes) {
  const types = [];
  for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt16BE(at + 3)) types.push(bytes[at]);
  return types;
}

/** A raw TCP connection; resolves with how it ended and after how many ms. */
async function rawConnection(port, send) {
  const socket = net.connect(port, HOST);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const started = Date.now();
  const chunks = [];
  socket.on("data", (c) => chunks.push(c));
  const ended = new Promise((resolve) => {
    socket.on("close", () => resolve({ ms: Date.now() - started, received: Buffer.concat(chunks) }));
    socket.on("error", () => {});
  });
  if (send) socket.write(send);
  return { socket, ended };
}

describe("HTTPS (--tls-cert, --tls-key)", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  before(async () => {
    server = await startServer(tlsArgs("--request-timeout-ms", String(REQUEST_TIMEOUT_MS),
                                       "--stream-queue-bytes", "65536"));
  });
  after(() => server?.dispose());

  it("HealthzAnswersOverHttpsWithTheConfiguredCertificate", T, async () => {
    const res = await httpsRequest(server.port, "/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: "ok" });
    assert.equal(res.protocol, "TLSv1.3");
    assert.equal(res.peer.subject.CN, "localhost");
    const tls12 = await httpsRequest(server.port, "/healthz", { tlsOptions: { maxVersion: "TLSv1.2" } });
    assert.equal(tls12.status, 200);
    assert.equal(tls12.protocol, "TLSv1.2");
    // Output arrives over a pipe, not necessarily before the port file the start waited for.
    await eventually(() => server.logMatching(/listening on https:\/\//).length === 1, { what: "the log to say https" });
  });

  it("HealthzAnswersCurlWithCacert", CURL, async () => {
    const res = await curl(["-sS", ...curlTls(server.port), httpsUrl(server.port, "/healthz")]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), { status: "ok" });
  });

  it("ProtocolsOlderThanTls12AreRefusedByTheServer", CURL, async () => {
    const res = await curl(["-sS", "--tlsv1.1", "--tls-max", "1.1", ...curlTls(server.port),
                            httpsUrl(server.port, "/healthz")]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /protocol version|unsupported protocol|no protocols available/);
    assert.equal((await httpsRequest(server.port, "/healthz")).status, 200);
  });

  it("OversizedBodySentWithoutWaitingGetsIts413OverTls", T, async () => {
    // As over plain HTTP: the 413 comes on the Content-Length while the client still sends,
    // and the server must take in the rest before closing, or the client sees a reset.
    const res = await httpsRequest(server.port, `/v2/message?username=${uniqueUser("tls-big")}`,
                                   { method: "POST", body: "t".repeat(8 * 1024 * 1024), headers: { "Content-Type": "text/plain" } });
    assert.equal(res.status, 413, res.body);
    assert.equal(res.json?.error, "body_too_large");
  });

  it("StreamOverTlsReceivesPublishedEventsWithIdsAndKeepAlives", T, async () => {
    const user = uniqueUser("tls");
    const node = await httpsSse(server.port, `/v2/sse?username=${user}`);
    const viaCurl = haveCurl ? curlSse(httpsUrl(server.port, `/v2/sse?username=${user}`), curlTls(server.port)) : null;
    try {
      assert.equal(node.status, 200);
      assert.match(node.headers["content-type"], /^text\/event-stream/);
      if (viaCurl) await viaCurl.waitFor((c) => c.status === 200, { what: "curl: the response head" });
      const ids = [];
      for (const i of range(1, 3)) ids.push(await publishTls(server.port, user, `message ${i}`));
      assert.deepEqual(ids, [1, 2, 3]);
      await node.waitFor((c) => c.ids().length === 3, { what: "3 events" });
      assert.deepEqual(node.data(), ["message 1", "message 2", "message 3"]);
      if (viaCurl) {
        await viaCurl.waitId(3);
        assert.deepEqual(viaCurl.ids(), [1, 2, 3]);
      }
      // --keepalive-ms 300: silence is broken by comments over TLS too.
      await node.waitFor((c) => c.parser.comments.length >= 2, { what: "two keep-alives", timeout: 3_000 });
    } finally {
      node.close();
      await viaCurl?.close();
    }
  });

  it("V1DemoStreamSaysHiOverTls", T, async () => {
    const stream = await httpsSse(server.port, `/v1/sse?username=${uniqueUser("v1")}`);
    try {
      await stream.waitFor((c) => c.data().includes("hi!"), { what: "data: hi!" });
    } finally {
      stream.close();
    }
  });

  it("ResumeOverTlsReplaysOnlyTheMissedEventsThenGoesLive", T, async () => {
    const user = uniqueUser("tls-resume");
    for (const i of range(1, 4)) await publishTls(server.port, user, `missed? ${i}`);
    const stream = await httpsSse(server.port, `/v2/sse?username=${user}`, { headers: { "Last-Event-ID": "2" } });
    try {
      await stream.waitFor((c) => c.ids().length === 2, { what: "the replay" });
      assert.deepEqual(stream.ids(), [3, 4]);
      assert.equal(await publishTls(server.port, user, "live"), 5);
      await stream.waitFor((c) => c.ids().length === 3, { what: "the live event" });
      assert.deepEqual(stream.ids(), [3, 4, 5]);
      assert.deepEqual(stream.data(), ["missed? 3", "missed? 4", "live"]);
    } finally {
      stream.close();
    }
    if (haveCurl) {
      const viaCurl = curlSse(httpsUrl(server.port, `/v2/sse?username=${user}&lastEventId=4`), curlTls(server.port));
      try {
        await viaCurl.waitId(5);
        assert.deepEqual(viaCurl.ids(), [5]);
      } finally {
        await viaCurl.close();
      }
    }
  });

  it("ClientLeavingATlsStreamIsNoticed", T, async () => {
    const user = uniqueUser("tls-leave");
    // Streams the earlier tests closed count until the server has noticed each close.
    const before = await metricsTlsEventually(server.port, (m) => m.get("ssehub_streams_open") === 0,
                                              "earlier streams closed");
    const stream = await httpsSse(server.port, `/v2/sse?username=${user}`);
    await metricsTlsEventually(server.port, (m) => m.get("ssehub_streams_open") === before.get("ssehub_streams_open") + 1,
                               "the stream open");
    stream.socket.destroy();
    await metricsTlsEventually(server.port, (m) => m.get("ssehub_streams_open") === before.get("ssehub_streams_open"),
                               "the stream closed by the server");
  });

  it("SlowTlsReaderIsDisconnectedWhenItsQueueOverflowsAndOthersKeepEverything", { timeout: 90_000 }, async () => {
    const user = uniqueUser("tls-slow");
    const p = `/v2/sse?username=${user}`;
    const before = await metricsTls(server.port);
    const normal = await httpsSse(server.port, p);
    const slow = await httpsSse(server.port, p);
    slow.socket.pause(); // reads nothing more: TLS records pile up in the server's queue
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, servername: NAME });
    try {
      const body = (i) => `${i}:`.padEnd(32 * 1024, "abcdefghijklmnopqrstuvwxyz");
      let published = 0;
      let overflowed = false;
      while (published < 200 || (!overflowed && published < 1_000)) {
        published++;
        assert.equal(await publishTls(server.port, user, body(published), { agent }), published);
        if (published % 50 === 0) {
          const m = await metricsTls(server.port);
          overflowed = m.get("ssehub_queue_overflows_total") > before.get("ssehub_queue_overflows_total");
        }
      }
      assert.ok(overflowed, `no overflow after ${published} messages of 32 KiB`);
      await normal.waitFor((c) => c.ids().length === published, { what: `all ${published} events`, timeout: 30_000 });
      assert.deepEqual(normal.ids(), range(1, published));
      slow.socket.resume();
      await slow.waitEnd(10_000);
      assert.ok(slow.ids().length < published, "the slow reader was cut off before the end");
      assert.equal((await httpsRequest(server.port, "/healthz")).status, 200);
    } finally {
      agent.destroy();
      normal.close();
      slow.close();
    }
  });

  it("PlainHttpToTheTlsPortIsAnswered400AndClosedAndTheServerStaysUp", T, async () => {
    const before = await metricsTls(server.port);
    const res = await new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port: server.port, path: "/healthz", agent: false }, (r) => {
        let text = "";
        r.setEncoding("utf8");
        r.on("data", (c) => (text += c));
        r.on("end", () => resolve({ status: r.statusCode, headers: r.headers, json: JSON.parse(text) }));
      });
      req.on("error", reject);
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.connection, "close");
    assert.equal(res.json.error, "https_required");
    // Bytes that are neither TLS nor HTTP: the connection is closed, nothing else happens.
    const garbage = await rawConnection(server.port, Buffer.from("\x00\x01\x02 not a handshake\r\n\r\n"));
    const end = await within(5_000, garbage.ended, "the garbage connection to close");
    assert.ok(end.ms < REQUEST_TIMEOUT_MS, `closed after ${end.ms} ms, not at once`);
    const m = await metricsTls(server.port);
    assert.equal(m.get("ssehub_requests_rejected_total", { reason: "bad_request" }),
                 before.get("ssehub_requests_rejected_total", { reason: "bad_request" }) + 1);
    assert.ok(server.running);
  });

  it("ClientThatNeverSendsAClientHelloIsCutOffAfterTheRequestTimeout", T, async () => {
    const silent = await rawConnection(server.port);
    // A record header announcing a ClientHello that never comes.
    const partial = await rawConnection(server.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    for (const [what, connection] of [["silent", silent], ["partial", partial]]) {
      const end = await within(5_000, connection.ended, `the ${what} client to be cut off`);
      assert.ok(end.ms >= REQUEST_TIMEOUT_MS - 100 && end.ms < REQUEST_TIMEOUT_MS + 2_000,
                `${what}: cut off after ${end.ms} ms (--request-timeout-ms ${REQUEST_TIMEOUT_MS})`);
    }
    assert.equal((await httpsRequest(server.port, "/healthz")).status, 200);
  });

  /** A TLS 1.2 connection through a recording proxy that sends `request` and reads to the end. */
  async function exchangeThroughProxy(request) {
    const proxy = await recordingProxy(server.port);
    try {
      const socket = tls.connect({ host: HOST, port: proxy.port, servername: NAME, ca, maxVersion: "TLSv1.2" });
      await new Promise((resolve, reject) => {
        socket.once("secureConnect", resolve);
        socket.once("error", reject);
      });
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (c) => (text += c));
      const ended = new Promise((resolve) => socket.once("end", resolve));
      socket.write(request);
      const sent = Date.now();
      await within(REQUEST_TIMEOUT_MS + 3_000, ended, "the server to end the connection");
      const ms = Date.now() - sent;
      socket.destroy();
      await sleep(50);
      return { text, ms, types: recordTypes(proxy.received()) };
    } finally {
      proxy.close();
    }
  }

  it("ConnectionCloseAnswerEndsWithCloseNotify", T, async () => {
    const { text, types } = await exchangeThroughProxy(`GET /healthz HTTP/1.1\r\nHost: ${NAME}\r\nConnection: close\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(types.at(-1), 21, `last record types ${types.slice(-4)}: no close_notify alert`);
  });

  it("IdleKeepAliveConnectionIsClosedAfterTheRequestTimeout", T, async () => {
    const { text, ms } = await exchangeThroughProxy(`GET /healthz HTTP/1.1\r\nHost: ${NAME}\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 100, `closed after ${ms} ms of idleness`);
  });
});

describe("HTTPS with --max-connections-per-ip 2", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  before(async () => {
    server = await startServer(tlsArgs("--max-connections-per-ip", "2"));
  });
  after(() => server?.dispose());

  it("ConnectionAboveTheLimitGets429AfterTheHandshake", T, async () => {
    const user = uniqueUser("tls-limit");
    const streams = [await httpsSse(server.port, `/v2/sse?username=${user}`),
                     await httpsSse(server.port, `/v2/sse?username=${user}`)];
    try {
      const refused = await httpsRequest(server.port, "/healthz");
      assert.equal(refused.status, 429);
      assert.equal(refused.json.error, "too_many_connections");
      assert.equal(refused.headers["retry-after"], "5");
      streams.pop().close();
      await eventually(async () => (await httpsRequest(server.port, "/healthz")).status === 200,
                       { what: "a slot to be free again" });
      const m = await metricsTlsEventually(server.port,
        (x) => x.get("ssehub_requests_rejected_total", { reason: "too_many_connections" }) >= 1, "the refusal counted");
      assert.ok(m.get("ssehub_requests_rejected_total", { reason: "too_many_connections" }) >= 1);
    } finally {
      for (const s of streams) s.close();
    }
  });
});

describe("HTTPS shutdown", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  after(() => server?.dispose());

  it("SigtermEndsTlsStreamsWithCloseNotifyAndExitsZero", T, async () => {
    server = await startServer(tlsArgs("--keepalive-ms", "30000"));
    const user = uniqueUser("tls-term");
    const proxy = await recordingProxy(server.port);
    const recorded = await httpsSse(proxy.port, `/v2/sse?username=${user}`, { tlsOptions: { maxVersion: "TLSv1.2" } });
    const direct = await httpsSse(server.port, `/v2/sse?username=${user}`);
    const viaCurl = haveCurl ? curlSse(httpsUrl(server.port, `/v3/sse?username=${user}`), curlTls(server.port)) : null;
    try {
      assert.equal(await publishTls(server.port, user, "before the signal"), 1);
      await recorded.waitFor((c) => c.ids().length === 1, { what: "the event (via proxy)" });
      await direct.waitFor((c) => c.ids().length === 1, { what: "the event" });
      if (viaCurl) await viaCurl.waitFor((c) => c.status === 200, { what: "curl: the response head" });

      const status = await server.stop("SIGTERM", 5_000);
      assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
      assert.ok(status.ms < 5_000, `took ${status.ms} ms`);
      await recorded.waitEnd();
      await direct.waitEnd();
      // Without the last chunk, so the client reconnects (see shutdown.test.mjs).
      assert.notEqual(direct.endReason, "end");
      // TLS 1.2 sends alerts as records of type 21: the stream's last record is close_notify.
      const types = recordTypes(proxy.received());
      assert.equal(types.at(-1), 21, `last record types ${types.slice(-4)}: no close_notify alert`);
      if (viaCurl) {
        await viaCurl.exit;
        assert.equal(viaCurl.exitCode, 18, `curl: ${viaCurl.stderr}`); // body incomplete, TLS closed cleanly
      }
    } finally {
      recorded.close?.();
      direct.close?.();
      proxy.close();
      await viaCurl?.close();
    }
  });
});

describe("HTTPS start-up checks", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  const startFails = async (args, pattern, code) => {
    await assert.rejects(startServer(args), (e) => {
      assert.match(e.message, pattern);
      assert.match(e.message, new RegExp(`"code":${code}`));
      return true;
    });
  };

  it("CertificateWithoutKeyOrKeyWithoutCertificateIsRefused", T, async () => {
    await startFails(["--tls-cert", certFile], /--tls-cert and --tls-key go together/, 2);
    await startFails(["--tls-key", keyFile], /--tls-cert and --tls-key go together/, 2);
  });

  it("UnreadableMalformedOrMismatchedFilesStopTheStart", T, async () => {
    const missing = path.join(dir, "missing.pem");
    const garbage = path.join(dir, "garbage.pem");
    const otherKey = path.join(dir, "other-key.pem");
    await fs.writeFile(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await fs.writeFile(otherKey, privateKey.export({ type: "pkcs8", format: "pem" }));
    await startFails(["--tls-cert", missing, "--tls-key", keyFile], /cannot read --tls-cert .*missing\.pem/, 1);
    await startFails(["--tls-cert", certFile, "--tls-key", missing], /cannot read --tls-key .*missing\.pem/, 1);
    await startFails(["--tls-cert", garbage, "--tls-key", keyFile], /--tls-cert .*garbage\.pem holds no usable PEM certificate/, 1);
    await startFails(["--tls-cert", certFile, "--tls-key", garbage], /--tls-key .*garbage\.pem holds no usable PEM private key/, 1);
    await startFails(["--tls-cert", certFile, "--tls-key", otherKey], /--tls-key .*other-key\.pem does not match the certificate/, 1);
  });
});
