// Many event streams from one browser over HTTP/2 (issue 16): Debian's Chromium, driven by
// playwright-core, trusting a test CA, against ssehub with --http2 and TLS. Over HTTP/1.1 a
// browser opens at most six connections to an origin and an EventSource holds one for ever, so
// the seventh stream of a page, or of a seventh tab, would hang; over HTTP/2 they all share
// one connection. The page is a plain one of this test's own (one EventSource per stream, no
// tab sharing as the report UI does), served by ssehub from a temporary --web-root.
// One more case without --http2: EventSources over HTTP/1.1 and TLS 1.3, which ssehub parks.
//
// Needs build/ssehub and /usr/bin/chromium (CHROMIUM_PATH overrides it).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import {
  eventually, parsePrometheus, showServerLogsOnFailure, startServer, uniqueUser,
} from "../integration/lib/server.mjs";

showServerLogsOnFailure();
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const T = { timeout: 90_000 };
const WAIT = 15_000; // for every stream to open, every message to arrive

// One EventSource per name in ?users= (a,b,a,c...), each recording what it received.
const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>ssehub streams</title>
<script src="/streams.js" defer></script></head><body></body></html>
`;
const PAGE_SCRIPT = `
window.streams = new URLSearchParams(location.search).get("users").split(",").map((user) => {
  const state = { user, open: false, errors: 0, messages: [] };
  const source = new EventSource("/v2/sse?username=" + encodeURIComponent(user));
  source.onopen = () => { state.open = true; };
  source.onerror = () => { state.errors++; };
  source.onmessage = (e) => { state.messages.push(e.data); };
  return state;
});
`;

let dir;
let certFile;
let keyFile;
let caPem;
let caSpkiHash;

function openssl(args) {
  const made = spawnSync("openssl", args, { cwd: dir });
  if (made.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${made.stderr}`);
}

/** A test CA and a server certificate it signed (for 127.0.0.1); the chain in certFile. */
async function makeCertificates() {
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
           "-subj", "/CN=ssehub browser test CA", "-keyout", "ca.key", "-out", "ca.pem",
           "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
  await fs.writeFile(path.join(dir, "server.ext"),
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
           "-days", "1", "-extfile", "server.ext", "-out", "server.pem"]);
  caPem = await fs.readFile(path.join(dir, "ca.pem"));
  // The server presents its certificate and the CA's, so the CA's key is in the chain
  // Chromium sees.
  certFile = path.join(dir, "chain.pem");
  await fs.writeFile(certFile, Buffer.concat([await fs.readFile(path.join(dir, "server.pem")), caPem]));
  keyFile = path.join(dir, "server.key");
  // What --ignore-certificate-errors-spki-list takes: base64 of the SHA-256 of the
  // SubjectPublicKeyInfo. Chromium then accepts a chain holding that key (the CA's), without a
  // system trust store.
  const spki = new crypto.X509Certificate(caPem).publicKey.export({ type: "spki", format: "der" });
  caSpkiHash = crypto.createHash("sha256").update(spki).digest("base64");
}

/** An HTTPS/1.1 request from this process (not the browser), trusting the test CA. */
function httpsRequest(server, p, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port: server.port, path: p, method, headers, ca: caPem, agent: false },
                              (res) => {
                                const chunks = [];
                                res.on("data", (c) => chunks.push(c));
                                res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
                              });
    req.on("error", reject);
    req.end(body);
  });
}

async function publish(server, user, text) {
  const res = await httpsRequest(server, `/v2/message?username=${encodeURIComponent(user)}`, {
    method: "POST", headers: { "content-type": "text/plain" }, body: text,
  });
  assert.equal(res.status, 204, `publish to ${user}: ${res.status} ${res.body}`);
}

async function serverMetrics(server) {
  const res = await httpsRequest(server, "/metrics");
  assert.equal(res.status, 200);
  return parsePrometheus(res.body);
}

/** The streams' state in `page`, as the page script records it. */
const streamsOf = (page) => page.evaluate(() => window.streams ?? []);

describe("Chromium over HTTP/2: many EventSources to one origin", () => {
  let server;
  let browser;
  let context;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is missing (apt-get install -y chromium): ${CHROMIUM}`);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-h2-browser-"));
    await makeCertificates();
    const webRoot = path.join(dir, "web");
    await fs.mkdir(webRoot);
    await fs.writeFile(path.join(webRoot, "index.html"), PAGE_HTML);
    await fs.writeFile(path.join(webRoot, "streams.js"), PAGE_SCRIPT);
    server = await startServer(["--http2", "--tls-cert", certFile, "--tls-key", keyFile, "--web-root", webRoot,
                                "--max-streams-per-user", "64"]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic",
             `--ignore-certificate-errors-spki-list=${caSpkiHash}`],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  // A fresh context per test: its own connection pool, so each test's count of connections is
  // its own.
  const newContext = async () => {
    await context?.close();
    context = await browser.newContext();
    context.setDefaultTimeout(WAIT);
    return context;
  };
  after(() => context?.close().catch(() => {}));

  /** Opens the test page of `on` in a new tab with one EventSource per entry of `users`. */
  async function openPage(users, { on = server, protocol = "h2" } = {}) {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const response = await page.goto(`https://127.0.0.1:${on.port}/?users=${users.join(",")}`);
    assert.equal(response.status(), 200);
    assert.deepEqual(errors, []);
    // The page itself came over HTTP/2 (or 1.1), over TLS that the browser accepted.
    const used = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    assert.equal(used, protocol);
    return page;
  }

  /** Waits until every stream of every page is open; reports how many are when it gives up. */
  async function waitOpen(pages, expected) {
    let open = 0;
    try {
      await eventually(async () => {
        const states = (await Promise.all(pages.map(streamsOf))).flat();
        open = states.filter((s) => s.open).length;
        return states.length === expected && open === expected;
      }, { timeout: WAIT, interval: 100, what: "every EventSource to open" });
    } catch (e) {
      throw new Error(`${open} of ${expected} EventSources opened (HTTP/1.1 would hold a browser to 6): ${e.message}`);
    }
  }

  it("opens 20 EventSources in one page on one HTTP/2 connection, each receiving every message for its user", T, async () => {
    await newContext();
    const users = ["alpha", "bravo", "charlie", "delta"].map((name) => uniqueUser(`h2page-${name}`));
    const streamUsers = Array.from({ length: 20 }, (_, i) => users[i % users.length]);
    const page = await openPage(streamUsers);
    await waitOpen([page], 20);

    const sent = new Map(users.map((user) => [user, [1, 2, 3].map((n) => `${user} #${n}`)]));
    for (let n = 0; n < 3; n++) for (const user of users) await publish(server, user, sent.get(user)[n]);
    await eventually(async () => (await streamsOf(page)).every((s) => s.messages.length >= 3),
                     { timeout: WAIT, interval: 100, what: "3 messages on every stream" });
    for (const s of await streamsOf(page)) assert.deepEqual(s.messages, sent.get(s.user), `stream of ${s.user}`);

    const m = await serverMetrics(server);
    assert.equal(m.get("ssehub_streams_open"), 20);
    // The browser's one connection (this process's requests are HTTP/1.1).
    assert.equal(m.get("ssehub_http2_connections_open"), 1);
  });

  it("serves 8 tabs of one browser, each with its own EventSource, on one HTTP/2 connection", T, async () => {
    await newContext();
    const user = uniqueUser("h2tabs");
    const pages = [];
    for (let i = 0; i < 8; i++) pages.push(await openPage([user]));
    await waitOpen(pages, 8);

    const sent = ["first", "second", "third"];
    for (const text of sent) await publish(server, user, text);
    await eventually(async () => (await Promise.all(pages.map(streamsOf))).flat().every((s) => s.messages.length >= 3),
                     { timeout: WAIT, interval: 100, what: "3 messages in every tab" });
    for (const [i, page] of pages.entries()) {
      const [stream] = await streamsOf(page);
      assert.deepEqual(stream.messages, sent, `tab ${i + 1}`);
      assert.equal(stream.errors, 0, `tab ${i + 1} saw an error`);
    }

    // The first test's context is closed; the server may take a moment to see its streams end.
    await eventually(async () => {
      const m = await serverMetrics(server);
      return m.get("ssehub_streams_open") === 8 && m.get("ssehub_http2_connections_open") === 1;
    }, { timeout: WAIT, what: "8 streams on 1 HTTP/2 connection in the metrics" });
  });

  it("receives every message, large ones too, on EventSources over HTTP/1.1 and TLS 1.3 that are parked", T, async () => {
    // Without --http2 the browser speaks HTTP/1.1: each EventSource is a TLS connection of its
    // own, which ssehub parks once its head is out (see README, TLS).
    const http1 = await startServer(["--tls-cert", certFile, "--tls-key", keyFile,
                                     "--web-root", path.join(dir, "web")]);
    try {
      await newContext();
      const users = ["one", "two", "three"].map((name) => uniqueUser(`parked-${name}`));
      const page = await openPage(users, { on: http1, protocol: "http/1.1" });
      await waitOpen([page], 3);
      await eventually(async () => (await serverMetrics(http1)).get("ssehub_tls_parked_streams") === 3,
                       { timeout: WAIT, what: "the 3 streams parked" });
      const sent = ["small", "large ".padEnd(40_000, "x"), "last"];
      for (const text of sent) for (const user of users) await publish(http1, user, `${user} ${text}`);
      await eventually(async () => (await streamsOf(page)).every((s) => s.messages.length >= 3),
                       { timeout: WAIT, interval: 100, what: "3 messages on every stream" });
      for (const s of await streamsOf(page)) {
        assert.deepEqual(s.messages, sent.map((text) => `${s.user} ${text}`), `stream of ${s.user}`);
        assert.equal(s.errors, 0, `stream of ${s.user} saw an error`);
      }
      assert.equal((await serverMetrics(http1)).get("ssehub_tls_parked_streams"), 3);
    } finally {
      await http1.dispose();
    }
  });
});
