// Every route answers the stock HTTP/2 command-line clients as it answers HTTP/1.1 (issue 16):
// curl --http2-prior-knowledge (h2c) and curl --http2 (TLS, ALPN) trusting a test CA, and the
// nghttp2 project's nghttp over h2c and over TLS. nghttp has no CA option: over TLS it warns
// "Certificate verification failed" and goes on, so its TLS runs are unverified (-y hushes the
// warning; one test checks it is given). Each answer is compared with the same request sent by
// curl --http1.1 to the same server: status, content-type and the headers that matter, the body,
// and on event streams the events (ids and data), resume with Last-Event-ID included. Routes: the
// v1/v2/v3 streams, v2/v3 publishing and batches, v4 reports and their stream, the UI's files and
// the JSON 404, CORS preflight, /healthz, /readyz, /metrics, JWT auth (h2c), and the refusals
// 400, 404, 405 and 413.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  SseParser, curl, curlSse, eventually, haveCurl, parsePrometheus, run, showServerLogsOnFailure, startServer,
  uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 60_000 };
const WAIT = { timeout: 10_000 };
const haveNghttp = spawnSync("nghttp", ["--version"]).status === 0;
const SKIP = !haveCurl ? "curl is not installed" : !haveNghttp ? "nghttp is not installed (nghttp2-client)" : false;

const MAX_BODY = 4096;
const INDEX = "<!doctype html><title>the page</title>";
const APP_JS = "console.log('app');";
const DEV_ORIGIN = "http://localhost:5173";

let dir; // certificate, web root, request bodies and nghttp's HAR files
let certFile;
let plain; // --http2: HTTP/1.1 and h2c with prior knowledge
let tls; // --http2 with a certificate: HTTP/1.1 and h2 chosen by ALPN

before(async () => {
  if (SKIP) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-h2-clients-"));
  certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                     "-subj", "/CN=localhost", "-keyout", keyFile, "-out", certFile]);
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const webRoot = path.join(dir, "web");
  await fs.mkdir(path.join(webRoot, "assets"), { recursive: true });
  await fs.writeFile(path.join(webRoot, "index.html"), INDEX);
  await fs.writeFile(path.join(webRoot, "assets", "app-1234.js"), APP_JS);
  const common = ["--http2", "--web-root", webRoot, "--max-body-bytes", String(MAX_BODY)];
  [plain, tls] = await Promise.all([
    startServer(common),
    startServer([...common, "--tls-cert", certFile, "--tls-key", keyFile]),
  ]);
});
after(async () => {
  await plain?.dispose();
  await tls?.dispose();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** A file of `dir` holding `content`, for curl's --data-binary @file and nghttp's -d. */
async function bodyFile(content) {
  const file = path.join(dir, `body-${randomUUID()}`);
  await fs.writeFile(file, content);
  return file;
}

// ---------------------------------------------------------------------------------------------
// The clients. Each has request(p, {method, headers, body}) -> {status, headers, body, json,
// version} and stream(p, headers) -> an event stream {status, headers, version, parser, close()}.

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** curl with `flags()` against `base()`; `version` is what %{http_version} must print. */
function curlClient(name, flags, base, version) {
  return {
    name,
    version,
    async request(p, { method = "GET", headers = {}, body } = {}) {
      const tag = randomUUID();
      const headFile = path.join(dir, `${tag}.head`);
      const outFile = path.join(dir, `${tag}.out`);
      // "Expect:" keeps HTTP/1.1 curl from waiting for a 100 Continue before a large body.
      const args = ["-sS", ...flags(), "-X", method, "-H", "Expect:", "-D", headFile, "-o", outFile, "-w", "%{http_version}"];
      for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
      if (body !== undefined) args.push("--data-binary", `@${await bodyFile(body)}`);
      const res = await curl([...args, `${base()}${p}`]);
      assert.equal(res.code, 0, `${name} ${method} ${p}: curl exited ${res.code}: ${res.stderr}`);
      // The last block of the head file is the final response (a 100 Continue may precede it).
      const blocks = (await fs.readFile(headFile, "latin1")).split("\r\n\r\n").filter((b) => b !== "");
      const lines = blocks.at(-1).split("\r\n");
      const parsed = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const text = await fs.readFile(outFile, "utf8").catch(() => "");
      return { status: Number(lines[0].split(" ")[1]), headers: parsed, body: text, json: parseJson(text), version: res.stdout };
    },
    async stream(p, headers = {}) {
      const args = [...flags(), "-H", "Accept: text/event-stream"];
      for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
      const s = curlSse(`${base()}${p}`, args);
      await s.waitFor((c) => c.status !== undefined, { ...WAIT, what: `the head of ${p}` });
      return {
        status: s.status,
        headers: s.headers,
        version: s.statusLine.split(" ")[0].replace("HTTP/", ""),
        parser: s.parser,
        close: () => s.close(),
      };
    },
  };
}

/**
 * nghttp against `base()` (HTTP/2 only: prior knowledge on http://, ALPN on https://). The head
 * comes from its HAR file; a non-GET method without a body is set with -H ':method: X'.
 */
function nghttpClient(name, base) {
  const methodArgs = (method, body) =>
    (method === "GET" && body === undefined) || (method === "POST" && body !== undefined) ? [] : ["-H", `:method: ${method}`];
  return {
    name,
    version: "2",
    async request(p, { method = "GET", headers = {}, body } = {}) {
      const har = path.join(dir, `${randomUUID()}.har`);
      const args = ["-y", "--har", har, ...methodArgs(method, body)];
      for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
      if (body !== undefined) args.push("-d", await bodyFile(body));
      const res = await run("nghttp", [...args, `${base()}${p}`], { timeout: 15_000 });
      assert.equal(res.code, 0, `${name} ${method} ${p}: nghttp exited ${res.code}: ${res.stderr}`);
      const [entry] = JSON.parse(await fs.readFile(har, "utf8")).log.entries;
      assert.ok(entry, `${name} ${method} ${p}: no response (${res.stderr})`);
      const parsed = {};
      for (const { name: k, value } of entry.response.headers) if (!k.startsWith(":")) parsed[k] = value;
      return {
        status: entry.response.status, headers: parsed, body: res.stdout, json: parseJson(res.stdout),
        version: entry.response.httpVersion.replace("HTTP/", "").replace(/\.0$/, ""),
      };
    },
    /**
     * nghttp -v prints the response's fields as "[  0.001] recv (stream_id=13) name: value" and
     * the body as it comes, between frame lines ("[ t] ..." or indented by ten spaces): those
     * are told apart line by line. stdbuf unbuffers its stdout, so the events are seen live.
     */
    async stream(p, headers = {}) {
      const args = ["-o0", "nghttp", "-v", "-y", "-H", "accept: text/event-stream"];
      for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
      const child = spawn("stdbuf", [...args, `${base()}${p}`], { stdio: ["ignore", "pipe", "pipe"] });
      const parser = new SseParser();
      const head = {};
      // nghttp prints a HEADERS frame's fields before the frame's own line: the head is whole
      // once that line follows a :status (a field printed in a later chunk would be missed).
      let headComplete = false;
      let partial = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop();
        for (const line of lines) {
          const field = /^\[\s*[\d.]+\] recv \(stream_id=\d+\) (:?[^:]+): (.*)$/.exec(line);
          if (field) head[field[1]] = field[2];
          else if (/^\[\s*[\d.]+\] recv HEADERS frame /.test(line)) headComplete ||= head[":status"] !== undefined;
          else if (!/^\[\s*[\d.]+\] /.test(line) && !line.startsWith(" ".repeat(10))) parser.feed(`${line}\n`);
        }
      });
      let exited = false;
      const exit = new Promise((resolve) => child.on("close", () => resolve((exited = true))));
      await eventually(() => headComplete || exited, { ...WAIT, what: `${name}: the head of ${p}` });
      const { ":status": status, ...fields } = head;
      return {
        status: Number(status), headers: fields, version: "2", parser,
        close: () => {
          if (!exited) child.kill("SIGTERM");
          return exit;
        },
      };
    },
  };
}

const curlTls = () => ["--cacert", certFile, "--resolve", `localhost:${tls.port}:127.0.0.1`];
const plainBase = () => plain.url;
const tlsBase = () => `https://localhost:${tls.port}`;
const h1 = curlClient("curl --http1.1", () => ["--http1.1"], plainBase, "1.1");
const h1Tls = curlClient("curl --http1.1 (TLS)", () => ["--http1.1", ...curlTls()], tlsBase, "1.1");
// Each HTTP/2 client with the HTTP/1.1 client it is compared with (the same server and scheme).
const CLIENTS = [
  [curlClient("curl --http2-prior-knowledge", () => ["--http2-prior-knowledge"], plainBase, "2"), h1],
  [curlClient("curl --http2 (TLS)", () => ["--http2", ...curlTls()], tlsBase, "2"), h1Tls],
  [nghttpClient("nghttp (h2c)", plainBase), h1],
  [nghttpClient("nghttp (TLS, unverified)", () => `https://127.0.0.1:${tls.port}`), h1Tls],
];

/**
 * Sends `p` with `client` and with `reference` (HTTP/1.1); asserts both answer `status` over the
 * protocol each claims, with equal content-type and `headers`, and equal bodies unless `sameBody`
 * is false. Returns {res, ref}.
 */
async function compare(client, reference, p, options = {}, { status, headers = [], sameBody = true } = {}) {
  const what = `${options.method ?? "GET"} ${p}`;
  const res = await client.request(p, options);
  const ref = await reference.request(p, options);
  assert.equal(ref.version, "1.1", `${reference.name} ${what}`);
  assert.equal(res.version, client.version, `${client.name} ${what}: HTTP version`);
  assert.equal(ref.status, status, `${reference.name} ${what}: ${ref.status} ${ref.body}`);
  assert.equal(res.status, status, `${client.name} ${what}: ${res.status} ${res.body}`);
  for (const name of ["content-type", ...headers]) {
    assert.equal(res.headers[name], ref.headers[name], `${client.name} ${what}: ${name}`);
  }
  if (sameBody) assert.equal(res.body, ref.body, `${client.name} ${what}: body`);
  return { res, ref };
}

/** The events of a stream as [id, type, data]. */
const eventsOf = (parser) => parser.events.map((e) => [e.idField, e.type, e.data]);

async function waitEvents(stream, n, what) {
  await eventually(() => stream.parser.events.length >= n, { ...WAIT, what: `${n} events of ${what}` });
  return eventsOf(stream.parser);
}

/** Opens `p` with `client`, asserts an HTTP/2 (or the reference's) event stream head. */
async function openStream(client, p, headers = {}) {
  const s = await client.stream(p, headers);
  try {
    assert.equal(s.status, 200, `${client.name} GET ${p}`);
    assert.equal(s.headers["content-type"], "text/event-stream", `${client.name} GET ${p}`);
    assert.equal(s.headers["cache-control"], "no-cache", `${client.name} GET ${p}`);
    assert.equal(s.version, client.version, `${client.name} GET ${p}: HTTP version`);
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}

for (const [client, reference] of CLIENTS) {
  describe(`${client.name} against ${reference.name}`, { skip: SKIP }, () => {
    it("AnswersHealthReadinessAndMetricsLikeHttp1", T, async () => {
      const { res: health } = await compare(client, reference, "/healthz", {}, { status: 200 });
      assert.deepEqual(health.json, { status: "ok" });
      const { res: ready } = await compare(client, reference, "/readyz", {}, { status: 200, headers: ["cache-control"] });
      assert.equal(ready.json.status, "ready");
      // Counters move between two scrapes: the same exposition format, not the same text.
      const { res: scrape } = await compare(client, reference, "/metrics", {}, { status: 200, sameBody: false });
      assert.match(scrape.headers["content-type"], /^text\/plain; version=0\.0\.4/);
      const series = parsePrometheus(scrape.body);
      assert.ok([...series.keys()].some((k) => k.startsWith("ssehub_")), "ssehub's series are exposed");
    });

    it("ServesTheUisFilesAndTheJson404LikeHttp1", T, async () => {
      const PAGE = ["content-length", "cache-control", "content-security-policy", "x-content-type-options"];
      for (const [p, content] of [["/", INDEX], ["/index.html", INDEX], ["/assets/app-1234.js", APP_JS]]) {
        const { res } = await compare(client, reference, p, {}, { status: 200, headers: PAGE });
        assert.equal(res.body, content, p);
      }
      const { res: page } = await compare(client, reference, "/reports/42", { headers: { accept: "text/html" } }, { status: 200 });
      assert.equal(page.body, INDEX, "a navigation to a UI route gets the page");
      for (const [p, accept] of [["/reports/42", "application/json"], ["/v2/nothing", "*/*"], ["/assets/missing-1.js", "*/*"]]) {
        const { res } = await compare(client, reference, p, { headers: { accept } }, { status: 404 });
        assert.match(res.headers["content-type"], /^application\/json/, p);
        assert.equal(res.json.error, "not_found", p);
      }
    });

    it("AnswersACorsPreflightLikeHttp1", T, async () => {
      const CORS = ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                    "access-control-max-age", "vary"];
      for (const [p, method] of [["/v2/message?username=x", "POST"], ["/v4/report?user_id=x", "PUT"]]) {
        const { res } = await compare(client, reference, p, {
          method: "OPTIONS",
          headers: { origin: DEV_ORIGIN, "access-control-request-method": method,
                     "access-control-request-headers": "content-type,last-event-id" },
        }, { status: 204, headers: CORS });
        assert.equal(res.headers["access-control-allow-origin"], DEV_ORIGIN, p);
        assert.match(res.headers["access-control-allow-methods"], new RegExp(`\\b${method}\\b`), p);
        assert.equal(res.body, "");
      }
    });

    for (const api of ["v2", "v3"]) {
      it(`PublishesAndStreamsOn${api.toUpperCase()}WithResumeLikeHttp1`, T, async () => {
        const user = uniqueUser(`clients-${api}`);
        const post = (body) => ({ method: "POST", headers: { "content-type": "text/plain; charset=utf-8" }, body });
        const first = await client.request(`/${api}/message?username=${user}`, post("one"));
        assert.equal(first.status, 204, first.body);
        assert.equal(first.version, client.version);
        assert.equal(first.headers["x-event-id"], "1");
        const second = await client.request(`/${api}/message?username=${user}`, post("two\nlines ünïcode"));
        assert.equal(second.headers["x-event-id"], "2");
        const third = await reference.request(`/${api}/message?username=${user}`, post("three"));
        assert.equal(third.headers["x-event-id"], "3");
        const all = [["1", "message", "one"], ["2", "message", "two\nlines ünïcode"], ["3", "message", "three"]];

        const p = `/${api}/sse?username=${user}`;
        for (const lastId of ["0", "2"]) {
          const expected = all.slice(Number(lastId));
          const viaH2 = await openStream(client, p, { "last-event-id": lastId });
          const viaH1 = await openStream(reference, p, { "last-event-id": lastId });
          try {
            assert.deepEqual(await waitEvents(viaH2, expected.length, `${client.name} ${p}`), expected, `from ${lastId}`);
            assert.deepEqual(await waitEvents(viaH1, expected.length, `${reference.name} ${p}`), expected, `from ${lastId}`);
            // And live: a publish while both are open reaches both.
            const live = await client.request(`/${api}/message?username=${user}`, post(`live after ${lastId}`));
            assert.equal(live.status, 204);
            const liveEvent = [live.headers["x-event-id"], "message", `live after ${lastId}`];
            assert.deepEqual((await waitEvents(viaH2, expected.length + 1, client.name)).at(-1), liveEvent);
            assert.deepEqual((await waitEvents(viaH1, expected.length + 1, reference.name)).at(-1), liveEvent);
            assert.deepEqual(viaH2.parser.retries, viaH1.parser.retries, "the same retry field");
          } finally {
            await viaH2.close();
            await viaH1.close();
          }
          all.push([String(all.length + 1), "message", `live after ${lastId}`]);
        }
      });
    }

    it("PublishesABatchLikeHttp1", T, async () => {
      const batch = (alice, bob) => ({
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify([{ username: alice, message: "a1" }, { username: bob, message: "b1" }, { username: alice, message: "a2" }]),
      });
      const alice = uniqueUser("batch-alice");
      const res = await client.request("/v2/messages", batch(alice, uniqueUser("batch-bob")));
      const ref = await reference.request("/v2/messages", batch(uniqueUser("batch-alice"), uniqueUser("batch-bob")));
      assert.equal(res.status, 200, res.body);
      assert.equal(res.version, client.version);
      assert.equal(ref.status, 200, ref.body);
      assert.equal(res.headers["content-type"], ref.headers["content-type"]);
      assert.equal(res.body, ref.body, "fresh users get the same ids both ways");
      assert.deepEqual(res.json.ids, [1, 1, 2]);
      const s = await openStream(client, `/v2/sse?username=${alice}`, { "last-event-id": "0" });
      try {
        assert.deepEqual(await waitEvents(s, 2, "alice's stream"), [["1", "message", "a1"], ["2", "message", "a2"]]);
      } finally {
        await s.close();
      }
    });

    it("StreamsTheV1DemoStream", T, async () => {
      const s = await openStream(client, `/v1/sse?username=${uniqueUser("v1")}`);
      try {
        await waitEvents(s, 1, "the demo stream");
      } finally {
        await s.close();
      }
    });

    it("CreatesListsAndChangesAReportWithItsEventsOnTheStream", T, async () => {
      const user = randomUUID();
      const s = await openStream(client, `/v4/sse?user_id=${user}`);
      try {
        const created = await client.request(`/v4/new/report?user_id=${user}`, { method: "POST" });
        assert.equal(created.status, 201, created.body);
        assert.equal(created.version, client.version);
        assert.match(created.headers["content-type"], /^application\/json/);
        assert.equal(created.headers.location, `/v4/reports?user_id=${user}`);
        assert.equal(created.json.userId, user);
        assert.equal(created.json.reportStatus, "pending");
        await eventually(() => s.parser.events.some((e) => e.type === "report_created"), { ...WAIT, what: "report_created" });
        assert.deepEqual(JSON.parse(s.parser.events.find((e) => e.type === "report_created").data), created.json);

        const put = (status) => ({
          method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: created.json.reportId, status }),
        });
        const queued = await client.request(`/v4/report?user_id=${user}`, put("queued"));
        assert.equal(queued.status, 200, queued.body);
        assert.equal(queued.json.reportStatus, "queued");
        await eventually(() => s.parser.events.some((e) => e.type === "report_status_update"), { ...WAIT, what: "the status event" });
        assert.deepEqual(JSON.parse(s.parser.events.find((e) => e.type === "report_status_update").data),
                         { id: created.json.reportId, status: "queued", updatedAt: queued.json.updatedAt });

        const { res: list } = await compare(client, reference, `/v4/reports?user_id=${user}`, {}, { status: 200 });
        assert.deepEqual(list.json, [queued.json]);
        const { res: conflict } = await compare(client, reference, `/v4/report?user_id=${user}`, put("completed"), { status: 409 });
        assert.equal(conflict.json.error, "invalid_transition");
      } finally {
        await s.close();
      }
    });

    it("RefusesBadInputWithTheSameJsonErrorsAsHttp1", T, async () => {
      const text = (body) => ({ method: "POST", headers: { "content-type": "text/plain" }, body });
      const cases = [
        ["/v2/message", text("x"), 400, "missing_username"],
        ["/v2/message?username=", text("x"), 400, "missing_username"],
        ["/v2/sse", { headers: { accept: "text/event-stream" } }, 400, undefined],
        ["/v4/reports?user_id=not-a-uuid", {}, 400, undefined],
        ["/v2/nothing", {}, 404, "not_found"],
        [`/v2/message?username=${uniqueUser("big")}`, text("x".repeat(2 * MAX_BODY)), 413, "body_too_large"],
        ["/v2/message?username=x", {}, 405, "method_not_allowed"],
      ];
      for (const [p, options, status, error] of cases) {
        const { res } = await compare(client, reference, p, options, { status, headers: status === 405 ? ["allow"] : [] });
        assert.match(res.headers["content-type"], /^application\/json/, p);
        assert.equal(typeof res.json?.error, "string", `${p}: ${res.body}`);
        assert.equal(typeof res.json.detail, "string", p);
        if (error) assert.equal(res.json.error, error, p);
      }
    });
  });
}

describe("nghttp over TLS", { skip: SKIP }, () => {
  it("WarnsThatItCannotVerifyTheTestCertificateAndGoesOn", T, async () => {
    const res = await run("nghttp", [`https://127.0.0.1:${tls.port}/healthz`], { timeout: 15_000 });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Certificate verification failed/);
    assert.equal(res.stdout, '{"status":"ok"}');
  });
});

describe("JWT auth over h2c (--auth jwt --jwt-secret --publish-token)", { skip: SKIP }, () => {
  const SECRET = "http2-clients-secret-of-some-length";
  const PUBLISH_TOKEN = "publish-token-of-the-clients-test";
  const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const tokenFor = (sub) => {
    const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
    return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
  };
  let server;
  before(async () => (server = await startServer(["--http2", "--auth", "jwt", "--jwt-secret", SECRET, "--publish-token", PUBLISH_TOKEN])));
  after(() => server?.dispose());
  const base = () => server.url;
  const reference = curlClient("curl --http1.1", () => ["--http1.1"], base, "1.1");

  for (const client of [curlClient("curl --http2-prior-knowledge", () => ["--http2-prior-knowledge"], base, "2"),
                        nghttpClient("nghttp (h2c)", base)]) {
    it(`RefusesAndAdmitsLikeHttp1 (${client.name})`, T, async () => {
      const user = uniqueUser("jwt");
      const p = `/v2/sse?username=${user}`;
      const { res: anonymous } = await compare(client, reference, p, {}, { status: 401, headers: ["www-authenticate"] });
      assert.equal(anonymous.headers["www-authenticate"], "Bearer");
      assert.equal(anonymous.json.error, "unauthenticated");
      const { res: other } = await compare(client, reference, p, { headers: { authorization: `Bearer ${tokenFor("intruder")}` } },
                                           { status: 403 });
      assert.equal(other.json.error, "forbidden");

      const post = (headers) => ({ method: "POST", headers: { "content-type": "text/plain", ...headers }, body: "authorised" });
      await compare(client, reference, `/v2/message?username=${user}`, post({}), { status: 401, headers: ["www-authenticate"] });
      const published = await client.request(`/v2/message?username=${user}`, post({ "x-publish-token": PUBLISH_TOKEN }));
      assert.equal(published.status, 204, published.body);
      const s = await openStream(client, p, { authorization: `Bearer ${tokenFor(user)}`, "last-event-id": "0" });
      try {
        assert.deepEqual(await waitEvents(s, 1, "the user's stream"), [["1", "message", "authorised"]]);
      } finally {
        await s.close();
      }
    });
  }
});
