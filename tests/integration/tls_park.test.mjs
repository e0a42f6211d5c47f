// Parked TLS streams (--tls-park-idle, on by default): once an HTTP/1.1 SSE stream over TLS 1.3
// or TLS 1.2 (with an AEAD suite) has its head out, ssehub frees OpenSSL's state and seals the
// stream's records itself. Real clients (node's tls and https, curl, openssl s_client with each
// of the three suites of each version) must read everything after that as before: hundreds of
// events, events over one record (16 KiB), keep-alives, close_notify; a client that sends on a
// parked stream is cut off, TLS 1.2's CBC suites are not parked, and resumption by tickets
// still works.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import {
  SseParser, curlSse, eventually, haveCurl, parsePrometheus, range, showServerLogsOnFailure, startServer,
  uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 60_000 };
const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;
const HOST = "127.0.0.1";
const NAME = "localhost";
// Per version: node's maxVersion, curl's flags, and the suites s_client is run with (the
// certificate is ECDSA).
const VERSIONS = {
  "1.3": { node: "TLSv1.3", curl: ["--tlsv1.3"],
           suites: ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] },
  "1.2": { node: "TLSv1.2", curl: ["--tlsv1.2", "--tls-max", "1.2"],
           suites: ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"] },
};

let dir;
let certFile;
let keyFile;
let ca;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-tls-park-"));
  certFile = path.join(dir, "cert.pem");
  keyFile = path.join(dir, "key.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                     "-nodes", "-days", "1", "-subj", `/CN=${NAME}`, "-keyout", keyFile, "-out", certFile]);
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  ca = await fs.readFile(certFile);
});
after(() => dir && fs.rm(dir, { recursive: true, force: true }));

const tlsArgs = (...more) => ["--tls-cert", certFile, "--tls-key", keyFile, ...more];

/** One HTTPS request on a connection of its own: {status, body}. */
function httpsRequest(port, p, { method = "GET", body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: HOST, port, path: p, servername: NAME, ca, method, agent: false,
                                headers: body === undefined ? {} : { "Content-Type": "text/plain" } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, body: text }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function publish(port, user, body) {
  const res = await httpsRequest(port, `/v2/message?username=${encodeURIComponent(user)}`, { method: "POST", body });
  assert.equal(res.status, 204, res.body);
}

const metrics = async (port) => parsePrometheus((await httpsRequest(port, "/metrics")).body);
const parkedGauge = async (port) => (await metrics(port)).get("ssehub_tls_parked_streams");
const parks = async (port, outcome) => (await metrics(port)).get("ssehub_tls_parks_total", { outcome });

/** Undoes HTTP/1.1 chunked coding as far as `bytes` goes: {body, rest}. */
function dechunk(bytes) {
  let body = "";
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(bytes.slice(at, eol), 16);
    if (bytes.length < eol + 2 + size + 2) break;
    body += bytes.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return { body, rest: bytes.slice(at) };
}

/**
 * An SSE stream on a raw TLS connection (node's tls, so the test sees the connection itself):
 * {socket, parser, session(), ended, waitFor(predicate, what), write(bytes)}.
 */
function tlsSse(port, user, { maxVersion = "TLSv1.3", ciphers, session, headers = "" } = {}) {
  return new Promise((resolve, reject) => {
    const parser = new SseParser();
    const socket = tls.connect({ host: HOST, port, servername: NAME, ca, maxVersion, ciphers, session,
                                 ALPNProtocols: ["http/1.1"] });
    const client = { socket, parser, ended: false, sessions: [], head: null };
    socket.on("session", (s) => client.sessions.push(s));
    let pending = "";
    socket.setEncoding("latin1");
    socket.once("secureConnect", () =>
      socket.write(`GET /v2/sse?username=${user} HTTP/1.1\r\nHost: ${NAME}\r\n${headers}\r\n`));
    socket.on("data", (text) => {
      pending += text;
      if (client.head === null) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        client.head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        resolve(client);
      }
      const { body, rest } = dechunk(pending);
      pending = rest;
      parser.feed(Buffer.from(body, "latin1").toString("utf8"));
    });
    client.closed = new Promise((done) => socket.on("close", () => {
      client.ended = true;
      parser._notify();
      done();
    }));
    socket.on("error", (e) => (client.head === null ? reject(e) : (client.error = e)));
    client.ids = () => parser.events.filter((e) => e.idField !== undefined).map((e) => Number(e.idField));
    client.waitFor = (predicate, what, timeout = 15_000) => eventually(() => predicate(client), { timeout, what });
  });
}

/** openssl s_client streaming `user` over TLS 1.3 or 1.2 with one suite: {ids(), comments(), close()}. */
function sClientSse(port, user, suite, version = "1.3") {
  const only = version === "1.3" ? ["-tls1_3", "-ciphersuites", suite] : ["-tls1_2", "-cipher", suite];
  const child = spawn("openssl", ["s_client", "-connect", `${HOST}:${port}`, "-servername", NAME, "-CAfile", certFile,
                                  "-verify_return_error", ...only, "-quiet"],
                      { stdio: ["pipe", "pipe", "pipe"] });
  const parser = new SseParser();
  let pending = "";
  let head = null;
  child.stdout.setEncoding("latin1");
  child.stdout.on("data", (text) => {
    pending += text;
    if (head === null) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      head = pending.slice(0, end);
      pending = pending.slice(end + 4);
    }
    const { body, rest } = dechunk(pending);
    pending = rest;
    parser.feed(Buffer.from(body, "latin1").toString("utf8"));
  });
  // stdin stays open: s_client sends the request and nothing more until it is killed.
  child.stdin.write(`GET /v2/sse?username=${user} HTTP/1.1\r\nHost: ${NAME}\r\n\r\n`);
  const exited = new Promise((resolve) => child.on("close", resolve));
  return {
    head: () => head,
    parser,
    ids: () => parser.events.filter((e) => e.idField !== undefined).map((e) => Number(e.idField)),
    close: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

describe("Parked TLS streams", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  before(async () => {
    server = await startServer(tlsArgs());
  });
  after(() => server?.dispose());

  for (const [version, { node: maxVersion, curl, suites: SUITES }] of Object.entries(VERSIONS))
  it(`NodeCurlAndEverySuiteOfSClientReadHundredsOfEventsLargeOnesAndKeepAlivesAfterParking over TLS ${version}`, T, async () => {
    const user = uniqueUser("parked");
    const parkedBefore = await parks(server.port, "parked");
    const node = await tlsSse(server.port, user, { maxVersion });
    assert.equal(node.socket.getProtocol(), `TLSv${version}`);
    const viaCurl = haveCurl
      ? curlSse(`https://${NAME}:${server.port}/v2/sse?username=${user}`,
                ["--cacert", certFile, "--resolve", `${NAME}:${server.port}:${HOST}`, ...curl])
      : null;
    const sClients = SUITES.map((suite) => sClientSse(server.port, user, suite, version));
    const clients = 1 + (viaCurl ? 1 : 0) + sClients.length;
    try {
      if (viaCurl) await viaCurl.waitFor((c) => c.status === 200, { what: "curl: the response head" });
      await eventually(() => sClients.every((c) => c.head()?.startsWith("HTTP/1.1 200")), { what: "s_client heads" });
      // Every one parked before any event: what follows is sealed by ssehub.
      await eventually(async () => (await parkedGauge(server.port)) === clients, { what: `${clients} parked streams` });
      assert.equal(await parks(server.port, "parked"), parkedBefore + clients);

      const large = (i) => `large ${i} `.padEnd(40_000, "0123456789"); // over two records of 16 KiB
      const expected = [];
      for (const i of range(1, 300)) {
        const text = i % 100 === 0 ? large(i) : `event ${i}`;
        expected.push(text);
        await publish(server.port, user, text);
      }
      await node.waitFor((c) => c.ids().length === 300, "node: 300 events");
      assert.deepEqual(node.parser.events.map((e) => e.data), expected);
      for (const [i, sClient] of sClients.entries()) {
        await eventually(() => sClient.ids().length === 300, { timeout: 15_000, what: `s_client ${SUITES[i]}: 300 events` });
        assert.deepEqual(sClient.parser.events.map((e) => e.data), expected, SUITES[i]);
      }
      if (viaCurl) {
        await viaCurl.waitId(300);
        assert.deepEqual(viaCurl.ids(), range(1, 300));
      }
      // --keepalive-ms 300: silence is still broken by keep-alives, sealed too.
      const comments = node.parser.comments.length;
      await node.waitFor((c) => c.parser.comments.length >= comments + 2, "two more keep-alives");
      assert.equal(node.ended, false);
      assert.equal(await parkedGauge(server.port), clients);
    } finally {
      node.socket.destroy();
      await viaCurl?.close();
      await Promise.all(sClients.map((c) => c.close()));
    }
    await eventually(async () => (await parkedGauge(server.port)) === 0, { what: "the parked streams closed" });
  });

  for (const [version, { node: maxVersion }] of Object.entries(VERSIONS))
  it(`AClientThatSendsOnAParkedStreamIsCutOffAndResumesWithoutLoss over TLS ${version}`, T, async () => {
    const user = uniqueUser("talker");
    const stream = await tlsSse(server.port, user, { maxVersion });
    assert.equal(stream.socket.getProtocol(), `TLSv${version}`);
    await eventually(async () => (await parkedGauge(server.port)) === 1, { what: "the stream parked" });
    await publish(server.port, user, "one");
    await stream.waitFor((c) => c.ids().length === 1, "the first event");
    stream.socket.write("a byte the server will not decrypt");
    await within(5_000, stream.closed, "the server to close the stream");
    await eventually(async () => (await parkedGauge(server.port)) === 0, { what: "the gauge to drop" });
    await publish(server.port, user, "two");
    const resumed = await tlsSse(server.port, user, { maxVersion, headers: `Last-Event-ID: ${stream.ids().at(-1)}\r\n` });
    try {
      await resumed.waitFor((c) => c.ids().length === 1, "the missed event");
      assert.deepEqual(resumed.parser.events.map((e) => e.data), ["two"]);
    } finally {
      resumed.socket.destroy();
    }
  });

  it("Tls12StreamsOfACbcSuiteAreNotParkedAndStillWork", T, async () => {
    const user = uniqueUser("tls12");
    const unsupported = await parks(server.port, "unsupported");
    const stream = await tlsSse(server.port, user, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA256" });
    try {
      assert.equal(stream.socket.getProtocol(), "TLSv1.2");
      assert.equal(stream.socket.getCipher().standardName, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256");
      await eventually(async () => (await parks(server.port, "unsupported")) === unsupported + 1,
                       { what: "the stream counted as unsupported" });
      assert.equal(await parkedGauge(server.port), 0);
      await publish(server.port, user, "over 1.2");
      await stream.waitFor((c) => c.ids().length === 1, "the event");
      assert.deepEqual(stream.parser.events.map((e) => e.data), ["over 1.2"]);
    } finally {
      stream.socket.destroy();
    }
  });

  it("AParkedStreamsTicketResumesTheNextConnection", T, async () => {
    const user = uniqueUser("ticket");
    const first = await tlsSse(server.port, user);
    await first.waitFor((c) => c.sessions.length > 0, "a session ticket");
    assert.equal(first.socket.isSessionReused(), false);
    const second = await tlsSse(server.port, user, { session: first.sessions.at(-1) });
    try {
      assert.equal(second.socket.isSessionReused(), true);
      await eventually(async () => (await parkedGauge(server.port)) === 2, { what: "both parked" });
      await publish(server.port, user, "to both");
      for (const stream of [first, second]) await stream.waitFor((c) => c.ids().length === 1, "the event");
    } finally {
      first.socket.destroy();
      second.socket.destroy();
    }
  });

  it("SigtermEndsParkedStreamsWithASealedCloseNotify", T, async () => {
    const user = uniqueUser("term");
    // -msg: s_client prints every TLS message it reads, alerts decrypted and named. (node and
    // curl end a stream the same way whether close_notify came or only TCP's FIN.)
    const child = spawn("openssl", ["s_client", "-connect", `${HOST}:${server.port}`, "-servername", NAME,
                                    "-CAfile", certFile, "-tls1_3", "-quiet", "-msg"], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("latin1").on("data", (t) => (stdout += t));
    child.stderr.setEncoding("latin1").on("data", (t) => (stderr += t));
    const exited = new Promise((resolve) => child.on("close", resolve));
    child.stdin.write(`GET /v2/sse?username=${user} HTTP/1.1\r\nHost: ${NAME}\r\n\r\n`);
    try {
      await eventually(async () => (await parkedGauge(server.port)) === 1, { what: "the stream parked" });
      await eventually(() => stdout.includes("HTTP/1.1 200 OK"), { what: "the response head" });
      const status = await server.stop("SIGTERM", 10_000);
      assert.equal(status.code, 0);
      await eventually(() => stdout.includes("<<< TLS 1.3, Alert [length 0002], warning close_notify"),
                       { what: "s_client to read close_notify" });
      assert.doesNotMatch(stderr, /unexpected eof/);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});

describe("--tls-park-idle=false", { skip: haveOpenssl ? false : "openssl is not installed" }, () => {
  let server;
  before(async () => {
    server = await startServer(tlsArgs("--tls-park-idle=false"));
  });
  after(() => server?.dispose());

  it("StreamsKeepOpenSslAndNothingIsCounted", T, async () => {
    const user = uniqueUser("unparked");
    const stream = await tlsSse(server.port, user);
    try {
      await publish(server.port, user, "with OpenSSL");
      await stream.waitFor((c) => c.ids().length === 1, "the event");
      const m = await metrics(server.port);
      assert.equal(m.get("ssehub_tls_parked_streams"), 0);
      for (const outcome of ["parked", "unsupported", "pending", "mismatch", "failed"])
        assert.equal(m.get("ssehub_tls_parks_total", { outcome }), 0, outcome);
    } finally {
      stream.socket.destroy();
    }
  });
});
