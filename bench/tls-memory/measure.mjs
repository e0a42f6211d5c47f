#!/usr/bin/env node
// Server memory per idle stream over TLS: the RSS of a real ssehub with N idle streams open,
// minus its RSS before they opened, divided by N. Four shapes:
//   plain      HTTP/1.1 SSE streams on plain TCP (the reference)
//   tls        HTTP/1.1 SSE streams over TLS, one connection each
//   h2-conn    one HTTP/2 stream per TLS connection (h2 chosen by ALPN)
//   h2-stream  many HTTP/2 streams on few TLS connections: the cost of a stream beyond its
//              connection (RSS with M streams per connection minus RSS with 1, per added stream)
//   h2c-conn, h2c-stream  the same over cleartext HTTP/2 (h2c, prior knowledge)
// Usage: node bench/tls-memory/measure.mjs [--bin build/ssehub] [--streams 2000]
//        [--per-connection 500] [--only tls,h2-stream] [--tls-max 1.2]
// --tls-max 1.2 has the clients speak TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256 with node's
// defaults) rather than TLS 1.3.
// Prints one line per shape, and the same as JSON on the last line. A server that does not
// exit within 10 s of SIGTERM is killed and named on stderr, and the exit status is 1: a hang
// on shutdown is a bug to see, not a run to time out.
// The servers inherit the environment: SSEHUB_TLS_PARK_IDLE=false measures TLS streams that
// keep OpenSSL's state (parking is on by default, see README, TLS).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const BINARY = path.resolve(option("bin", path.join(ROOT, "build/ssehub")));
const STREAMS = Number(option("streams", 2000));
const PER_CONNECTION = Number(option("per-connection", 500));
const ONLY = option("only", "plain,tls,h2-conn,h2-stream,h2c-conn,h2c-stream").split(",");
const TLS_MAX = option("tls-max", "1.3");
if (!["1.2", "1.3"].includes(TLS_MAX)) throw new Error(`--tls-max ${TLS_MAX}: 1.2 or 1.3`);
const maxVersion = `TLSv${TLS_MAX}`;
const WARM_UP = 200;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssehub-tls-memory-"));
const cert = path.join(dir, "cert.pem");
const key = path.join(dir, "key.pem");
const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                   "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert]);
if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
const ca = fs.readFileSync(cert);

async function startServer(extra) {
  const portFile = path.join(dir, `port-${Date.now()}`);
  const child = spawn(BINARY, ["--port", "0", "--port-file", portFile, "--data-dir", fs.mkdtempSync(path.join(dir, "data-")),
                               "--history-store", "memory", "--threads", "2", "--log-level", "warn",
                               "--keepalive-ms", "3600000",
                               // HTTP/2 connections wait for their stream while the others open
                               "--request-timeout-ms", "120000", ...extra], { stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; i < 300; i += 1) {
    if (fs.existsSync(portFile) && Number(fs.readFileSync(portFile, "utf8")) > 0)
      return { child, port: Number(fs.readFileSync(portFile, "utf8")) };
    await sleep(50);
  }
  child.kill();
  throw new Error("ssehub wrote no port file in 15 s");
}

// SIGTERM, then the wait for the exit; a server still there after STOP_GRACE_MS is killed and
// reported, so no server outlives the measurement and no hang goes unseen.
const STOP_GRACE_MS = 10_000;
async function stopServer(server) {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const stopped = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (stopped) return;
  console.error(`measure: ssehub (pid ${child.pid}) did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM; killed`);
  process.exitCode = 1;
  child.kill("SIGKILL");
  await exited;
}

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

// Settles the heap before a reading: the server has nothing to do once every stream is open.
async function settledRss(pid) {
  await sleep(1500);
  return rssKiB(pid);
}

let user = 0;
const streamPath = () => `/v2/sse?username=mem-${process.pid}-${++user}`;

/** An HTTP/1.1 SSE stream; resolves with its socket once the response head has arrived. */
function openHttp1(port, secure) {
  return new Promise((resolve, reject) => {
    const socket = secure ? tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca, maxVersion,
                                         ALPNProtocols: ["http/1.1"] })
                          : net.connect({ host: "127.0.0.1", port });
    let head = "";
    socket.once(secure ? "secureConnect" : "connect", () =>
      socket.write(`GET ${streamPath()} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n`));
    const onData = (chunk) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(`stream refused: ${head.split("\r\n")[0]}`));
      socket.on("data", () => {});
      resolve(socket);
    };
    socket.on("data", onData);
    socket.on("error", reject);
  });
}

function openSession(port, secure) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${secure ? "https" : "http"}://localhost:${port}`,
                                  { ca, servername: "localhost", maxVersion, host: "127.0.0.1",
                                    peerMaxConcurrentStreams: 100000 });
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

function openHttp2(session) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": streamPath(), accept: "text/event-stream" });
    stream.once("response", (headers) =>
      headers[":status"] === 200 ? resolve(stream) : reject(new Error(`stream refused: ${headers[":status"]}`)));
    stream.on("data", () => {});
    stream.once("error", reject);
  });
}

async function inBatches(count, open, batch = 100) {
  const opened = [];
  for (let i = 0; i < count; i += batch)
    opened.push(...await Promise.all(Array.from({ length: Math.min(batch, count - i) }, open)));
  return opened;
}

async function measureHttp1(secure) {
  const server = await startServer(secure ? ["--tls-cert", cert, "--tls-key", key] : []);
  try {
    for (const s of await inBatches(WARM_UP, () => openHttp1(server.port, secure))) s.destroy();
    const before = await settledRss(server.child.pid);
    const sockets = await inBatches(STREAMS, () => openHttp1(server.port, secure));
    const after = await settledRss(server.child.pid);
    for (const s of sockets) s.destroy();
    return { streams: STREAMS, before_kib: before, after_kib: after, per_stream_kib: (after - before) / STREAMS };
  } finally {
    await stopServer(server);
  }
}

const tlsFlags = (secure) => (secure ? ["--tls-cert", cert, "--tls-key", key] : []);

async function measureHttp2Connections(secure) {
  const server = await startServer([...tlsFlags(secure), "--http2"]);
  try {
    const warm = await inBatches(WARM_UP, () => openSession(server.port, secure));
    await Promise.all(warm.map(openHttp2));
    for (const s of warm) s.destroy();
    const before = await settledRss(server.child.pid);
    const sessions = await inBatches(STREAMS, () => openSession(server.port, secure));
    let i = 0;
    await inBatches(STREAMS, () => openHttp2(sessions[i++]));
    const after = await settledRss(server.child.pid);
    for (const s of sessions) s.destroy();
    return { streams: STREAMS, before_kib: before, after_kib: after, per_stream_kib: (after - before) / STREAMS };
  } finally {
    await stopServer(server);
  }
}

async function measureHttp2Streams(secure) {
  const connections = Math.max(1, Math.ceil(STREAMS / PER_CONNECTION));
  const server = await startServer([...tlsFlags(secure), "--http2", "--http2-max-streams", String(PER_CONNECTION)]);
  try {
    const warm = await openSession(server.port, secure);
    // One connection holds at most PER_CONNECTION streams (--http2-max-streams): more are refused.
    await inBatches(Math.min(WARM_UP, PER_CONNECTION), () => openHttp2(warm));
    warm.destroy();
    const sessions = await inBatches(connections, () => openSession(server.port, secure));
    await Promise.all(sessions.map(openHttp2));
    const before = await settledRss(server.child.pid);
    for (const session of sessions) await inBatches(PER_CONNECTION - 1, () => openHttp2(session));
    const after = await settledRss(server.child.pid);
    for (const s of sessions) s.destroy();
    const added = connections * (PER_CONNECTION - 1);
    return { connections, streams: added, before_kib: before, after_kib: after, per_stream_kib: (after - before) / added };
  } finally {
    await stopServer(server);
  }
}

const shapes = {
  plain: () => measureHttp1(false),
  tls: () => measureHttp1(true),
  "h2-conn": () => measureHttp2Connections(true),
  "h2-stream": () => measureHttp2Streams(true),
  "h2c-conn": () => measureHttp2Connections(false),
  "h2c-stream": () => measureHttp2Streams(false),
};
const results = {};
try {
  for (const name of ONLY) {
    results[name] = await shapes[name]();
    const r = results[name];
    console.log(`${name.padEnd(10)} ${String(r.streams).padStart(6)} streams: RSS ${r.before_kib} -> ${r.after_kib} KiB, ` +
                `${r.per_stream_kib.toFixed(2)} KiB per stream`);
  }
  if (TLS_MAX !== "1.3") console.log(`(clients at most TLS ${TLS_MAX})`);
  console.log(JSON.stringify(results));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
