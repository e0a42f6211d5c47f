// Every route answers over HTTP/2 exactly as over HTTP/1.1 (issue 16): the same request is sent
// both ways to one server (--http2, h2c with prior knowledge; node's http and http2 clients)
// and both answers are checked, status, body and the headers that matter, against what the
// route must answer. Covered: JWT auth on streams, publishing and v4; v4 reports (create, list,
// transitions and their events on an HTTP/2 stream); the web UI's files and the JSON 404
// fallback; CORS preflight and headers; /healthz, /readyz and /metrics; batch publishing; and
// Idempotency-Key, a retry on the other protocol included.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { connect, eventData, h2request, h2sse } from "./lib/http2.mjs";
import {
  curl, eventually, parsePrometheus, publish, request, showServerLogsOnFailure, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const WAIT = { timeout: 10_000 };

/** The same request over HTTP/1.1 and over HTTP/2 on `session`: {h1, h2}. */
async function both(server, session, p, options = {}) {
  const h1 = await request(`${server.url}${p}`, options);
  const h2 = await h2request(session, p, options);
  return { h1, h2 };
}

/**
 * Asserts both answers are `status` with equal bodies (unless `sameBody` is false) and equal
 * values of `headers`; returns the HTTP/2 answer for further checks.
 */
function assertSame({ h1, h2 }, status, { headers = [], sameBody = true, what = "" } = {}) {
  assert.equal(h1.status, status, `HTTP/1.1 ${what}: ${h1.status} ${h1.body}`);
  assert.equal(h2.status, status, `HTTP/2 ${what}: ${h2.status} ${h2.body}`);
  if (sameBody) assert.equal(h2.body, h1.body, `body ${what}`);
  for (const name of ["content-type", ...headers]) assert.equal(h2.headers[name], h1.headers[name], `${name} ${what}`);
  return h2;
}

/** A stream's status alone: the stream is closed as soon as its head is in. */
async function h2StreamStatus(session, p, headers = {}) {
  const s = await h2sse(session, p, headers);
  s.stream.close();
  return s.status;
}

// ---------------------------------------------------------------------------------------------

describe("JWT auth over HTTP/2 (--auth jwt --jwt-secret --publish-token)", () => {
  const SECRET = "http2-integration-secret-of-some-length";
  const PUBLISH_TOKEN = "publish-token-over-http2";
  const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const tokenFor = (sub, claims = {}) => {
    const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub, exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
    return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
  };
  let server;
  let session;
  before(async () => {
    server = await startServer(["--http2", "--auth", "jwt", "--jwt-secret", SECRET, "--publish-token", PUBLISH_TOKEN]);
    session = connect(server);
  });
  after(async () => {
    session?.destroy();
    await server?.dispose();
  });

  it("RefusesStreamsWithoutAValidTokenAs401Or403LikeHttp1", T, async () => {
    const user = uniqueUser("h2jwt");
    for (const api of ["v1", "v2", "v3"]) {
      const p = `/${api}/sse?username=${user}`;
      const anonymous = assertSame(await both(server, session, p), 401, { headers: ["www-authenticate"], what: p });
      assert.equal(anonymous.headers["www-authenticate"], "Bearer");
      assert.equal(anonymous.json.error, "unauthenticated");
      const forged = `${tokenFor(user).slice(0, -4)}AAAA`;
      assertSame(await both(server, session, `${p}&token=${forged}`), 401, { what: `${p} forged` });
      const other = assertSame(await both(server, session, p, { headers: { authorization: `Bearer ${tokenFor("intruder")}` } }),
                               403, { what: `${p} another user's token` });
      assert.equal(other.json.error, "forbidden");
    }
  });

  it("AcceptsTheUsersTokenInTheHeaderTheCookieOrTheQueryAndDelivers", T, async () => {
    const user = uniqueUser("h2jwt-ok");
    const token = tokenFor(user);
    const p = `/v2/sse?username=${user}`;
    assert.equal(await h2StreamStatus(session, p, { authorization: `Bearer ${token}` }), 200);
    assert.equal(await h2StreamStatus(session, p, { cookie: `theme=dark; ssehub_token=${token}` }), 200);
    // HTTP/2 lets a client send the cookie as separate fields (RFC 9113 8.2.3), as browsers do.
    assert.equal(await h2StreamStatus(session, p, { cookie: ["theme=dark", `ssehub_token=${token}`, "x=1"] }), 200);
    const s = await h2sse(session, `${p}&token=${token}`);
    try {
      assert.equal(s.status, 200);
      const published = await h2request(session, `/v2/message?username=${user}`, {
        method: "POST", headers: { "content-type": "text/plain", "x-publish-token": PUBLISH_TOKEN }, body: "authorised",
      });
      assert.equal(published.status, 204, published.body);
      await eventually(() => eventData(s.parser).length === 1, { ...WAIT, what: "the event" });
      assert.deepEqual(eventData(s.parser), ["authorised"]);
    } finally {
      s.stream.close();
    }
  });

  it("PublishingNeedsThePublishTokenOrAJwtWithThePublishScopeLikeHttp1", T, async () => {
    const user = uniqueUser("h2jwt-pub");
    const post = (headers) => ({ method: "POST", headers: { "content-type": "text/plain", ...headers }, body: "x" });
    const p = `/v2/message?username=${user}`;
    const none = assertSame(await both(server, session, p, post({})), 401, { headers: ["www-authenticate"] });
    assert.equal(none.json.error, "unauthenticated");
    const userJwt = assertSame(await both(server, session, p, post({ authorization: `Bearer ${tokenFor(user)}` })), 403);
    assert.match(userJwt.json.detail, /ssehub:publish/);
    assertSame(await both(server, session, `${p}&token=${PUBLISH_TOKEN}`, post({})), 401, { what: "token in the query" });
    assertSame(await both(server, session, p, post({ authorization: `Bearer ${PUBLISH_TOKEN}` })), 204, { sameBody: false });
    assertSame(await both(server, session, p, post({ "x-publish-token": PUBLISH_TOKEN })), 204, { sameBody: false });
  });

  it("V4RoutesNeedTheUsersTokenLikeHttp1", T, async () => {
    const user = randomUUID();
    const own = { authorization: `Bearer ${tokenFor(user)}` };
    assertSame(await both(server, session, `/v4/reports?user_id=${user}`), 401);
    assertSame(await both(server, session, `/v4/reports?user_id=${user}`, { headers: { authorization: `Bearer ${tokenFor(randomUUID())}` } }), 403);
    assert.equal(await h2StreamStatus(session, `/v4/sse?user_id=${user}`), 401);
    assert.equal(await h2StreamStatus(session, `/v4/sse?user_id=${user}`, own), 200);
    const created = await h2request(session, `/v4/new/report?user_id=${user}`, { method: "POST", headers: own });
    assert.equal(created.status, 201, created.body);
    const put = await h2request(session, `/v4/report?user_id=${user}`, {
      method: "PUT", headers: { "content-type": "application/json", "x-publish-token": PUBLISH_TOKEN },
      body: JSON.stringify({ id: created.json.reportId, status: "queued" }),
    });
    assert.equal(put.status, 200, put.body);
    const listed = assertSame(await both(server, session, `/v4/reports?user_id=${user}`, { headers: own }), 200);
    assert.deepEqual(listed.json.map((r) => [r.reportId, r.reportStatus]), [[created.json.reportId, "queued"]]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("routes over HTTP/2 and HTTP/1.1 on one server", () => {
  const INDEX = "<!doctype html><title>the page</title>";
  let server;
  let session;
  let webRoot;
  before(async () => {
    webRoot = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-h2-web-"));
    await fs.mkdir(path.join(webRoot, "assets"));
    await fs.writeFile(path.join(webRoot, "index.html"), INDEX);
    await fs.writeFile(path.join(webRoot, "favicon.ico"), Buffer.from([0, 0, 1, 0]));
    await fs.writeFile(path.join(webRoot, "assets", "app-1234.js"), "console.log('app');");
    server = await startServer(["--http2", "--web-root", webRoot]);
    session = connect(server);
  });
  after(async () => {
    session?.destroy();
    await server?.dispose();
    if (webRoot) await fs.rm(webRoot, { recursive: true, force: true });
  });

  describe("v4 reports", () => {
    it("CreatesListsAndChangesAReportOverHttp2WithItsEventsOnAnHttp2Stream", T, async () => {
      const user = randomUUID();
      const s = await h2sse(session, `/v4/sse?user_id=${user}`);
      try {
        assert.equal(s.status, 200);
        const created = await h2request(session, `/v4/new/report?user_id=${user.toUpperCase()}`, { method: "POST" });
        assert.equal(created.status, 201, created.body);
        assert.match(created.headers["content-type"], /^application\/json/);
        assert.equal(created.headers.location, `/v4/reports?user_id=${user}`);
        const report = created.json;
        assert.equal(report.userId, user);
        assert.equal(report.reportStatus, "pending");
        await eventually(() => eventData(s.parser, "report_created").length === 1, { ...WAIT, what: "report_created" });
        assert.deepEqual(JSON.parse(eventData(s.parser, "report_created")[0]), report);

        const put = (status) => ({
          method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: report.reportId, status }),
        });
        const queued = await h2request(session, `/v4/report?user_id=${user}`, put("Queued"));
        assert.equal(queued.status, 200, queued.body);
        assert.equal(queued.json.reportStatus, "queued");
        await eventually(() => eventData(s.parser, "report_status_update").length === 1, { ...WAIT, what: "the status event" });
        assert.deepEqual(JSON.parse(eventData(s.parser, "report_status_update")[0]),
                         { id: report.reportId, status: "queued", updatedAt: queued.json.updatedAt });

        // The same refusals and the same list both ways.
        const conflict = assertSame(await both(server, session, `/v4/report?user_id=${user}`, put("completed")), 409);
        assert.equal(conflict.json.error, "invalid_transition");
        assertSame(await both(server, session, `/v4/report?user_id=${user}`, put("sleeping")), 400);
        assertSame(await both(server, session, `/v4/report?user_id=${user}`, { ...put("queued"), body: "{" }), 400);
        assertSame(await both(server, session, `/v4/report?user_id=${randomUUID()}`, put("queued")), 404);
        assertSame(await both(server, session, "/v4/reports?user_id=not-a-uuid"), 400);
        const list = assertSame(await both(server, session, `/v4/reports?user_id=${user}`), 200);
        assert.deepEqual(list.json, [queued.json]);
      } finally {
        s.stream.close();
      }
    });
  });

  describe("the web UI's files", () => {
    const PAGE_HEADERS = ["content-security-policy", "x-frame-options", "referrer-policy", "x-content-type-options",
                          "cache-control", "content-length"];

    it("ServesEachFileWithTheSameBodyAndHeaders", T, async () => {
      for (const file of ["/", "/index.html", "/assets/app-1234.js", "/favicon.ico"]) {
        const h2 = assertSame(await both(server, session, file), 200, { headers: PAGE_HEADERS, what: file });
        assert.match(h2.headers["content-security-policy"], /frame-ancestors 'none'/, file);
      }
      const page = assertSame(await both(server, session, "/", { headers: { accept: "text/html" } }), 200);
      assert.equal(page.body, INDEX);
      const asset = assertSame(await both(server, session, "/assets/app-1234.js"), 200, { headers: ["cache-control"] });
      assert.match(asset.headers["cache-control"], /immutable|max-age=31536000/);
    });

    it("AnswersHeadWithTheHeadAlone", T, async () => {
      const h2 = assertSame(await both(server, session, "/index.html", { method: "HEAD" }), 200, { headers: PAGE_HEADERS });
      assert.equal(h2.body, "");
      assert.equal(h2.headers["content-length"], String(INDEX.length));
    });

    it("ServesThePageForANavigationAndTheJson404OtherwiseLikeHttp1", T, async () => {
      for (const accept of ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*"]) {
        const h2 = assertSame(await both(server, session, "/reports/42", { headers: { accept } }), 200, { what: accept });
        assert.equal(h2.body, INDEX);
      }
      const cases = [
        ["/favicon.png", "text/html"], ["/x.js", "*/*"], ["/assets/missing-5678.js", "*/*"],
        ["/reports/42", "application/json"], ["/v2", "text/html"], ["/v2/unknown", "text/html"],
        ["/v4/nothing/here", "*/*"], ["/metrics/extra", "text/html"],
      ];
      for (const [target, accept] of cases) {
        const h2 = assertSame(await both(server, session, target, { headers: { accept } }), 404, { what: `${target} (${accept})` });
        assert.match(h2.headers["content-type"], /^application\/json/, target);
        assert.equal(h2.json.error, "not_found", target);
      }
      const wrongMethod = assertSame(await both(server, session, "/v2/message?username=x"), 405, { headers: ["allow"] });
      assert.equal(wrongMethod.json.error, "method_not_allowed");
    });
  });

  describe("CORS", () => {
    const DEV = "http://localhost:5173";
    const CORS_HEADERS = ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                          "access-control-max-age", "vary"];

    it("AnswersAPreflightAsOverHttp1", T, async () => {
      const wanted = ["content-type", "idempotency-key", "x-publish-token", "authorization", "last-event-id"];
      for (const [route, method] of [["/v2/message?username=x", "POST"], ["/v3/messages", "POST"], ["/v4/report?user_id=x", "PUT"]]) {
        const h2 = assertSame(await both(server, session, route, {
          method: "OPTIONS",
          headers: { origin: DEV, "access-control-request-method": method, "access-control-request-headers": wanted.join(",") },
        }), 204, { headers: CORS_HEADERS, what: route });
        assert.equal(h2.headers["access-control-allow-origin"], DEV);
        assert.match(h2.headers["access-control-allow-methods"], new RegExp(`\\b${method}\\b`));
        const allowed = h2.headers["access-control-allow-headers"].toLowerCase().split(/\s*,\s*/);
        for (const header of wanted) assert.ok(allowed.includes(header), `${header} is not in ${allowed}`);
        assert.equal(h2.body, "");
      }
    });

    it("AllowsALocalOriginAndNoForeignOneOnStreamsPublishesAndOps", T, async () => {
      const user = uniqueUser("h2cors");
      for (const [origin, allowed] of [[DEV, DEV], ["https://evil.example", undefined], ["http://localhost.evil.example", undefined]]) {
        const health = assertSame(await both(server, session, "/healthz", { headers: { origin } }), 200, { headers: CORS_HEADERS });
        assert.equal(health.headers["access-control-allow-origin"], allowed, origin);
        const published = assertSame(await both(server, session, `/v2/message?username=${user}`, {
          method: "POST", headers: { origin, "content-type": "text/plain" }, body: "hi",
        }), 204, { headers: CORS_HEADERS, sameBody: false });
        assert.equal(published.headers["access-control-allow-origin"], allowed, origin);
        const h1Stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { Origin: origin } });
        h1Stream.close();
        const h2Stream = await h2sse(session, `/v2/sse?username=${user}`, { origin });
        h2Stream.stream.close();
        assert.equal(h2Stream.status, 200);
        assert.equal(h2Stream.headers["access-control-allow-origin"], allowed, origin);
        assert.equal(h2Stream.headers["access-control-allow-origin"], h1Stream.headers["access-control-allow-origin"]);
      }
    });
  });

  describe("health and metrics", () => {
    it("AnswersHealthzAndReadyzAsOverHttp1", T, async () => {
      const health = assertSame(await both(server, session, "/healthz"), 200, { headers: ["cache-control"] });
      assert.deepEqual(health.json, { status: "ok" });
      const ready = assertSame(await both(server, session, "/readyz"), 200, { headers: ["cache-control"] });
      assert.equal(ready.json.status, "ready");
      const head = await h2request(session, "/healthz", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.body, "");
    });

    it("ServesMetricsOverHttp2AsPrometheusTextCountingTheRequestAsH2", T, async () => {
      const requests = (m, protocol) => m.get("ssehub_http_requests_total", { protocol });
      const before = parsePrometheus((await request(`${server.url}/metrics`)).body);
      const h2 = await h2request(session, "/metrics");
      assert.equal(h2.status, 200);
      assert.equal(h2.headers["content-type"], (await request(`${server.url}/metrics`)).headers["content-type"]);
      const m = parsePrometheus(h2.body);
      assert.equal(m.get("ssehub_http2_connections_open"), 1);
      assert.equal(requests(m, "h2"), requests(before, "h2") + 1);
      assert.equal(requests(m, "http/1.1"), requests(before, "http/1.1"), "the HTTP/1.1 scrape counted itself before");
    });

    it("AnswersCurlWithPriorKnowledgeOnTheOpsRoutes", T, async () => {
      for (const [route, pattern] of [["/healthz", /^\{"status":"ok"\}$/], ["/readyz", /"status":"ready"/],
                                      ["/metrics", /^# HELP /]]) {
        const res = await curl(["-s", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}", `${server.url}${route}`]);
        const lines = res.stdout.split("\n");
        assert.equal(lines.pop(), "200 2", route);
        assert.match(lines.join("\n"), pattern, route);
      }
    });
  });

  describe("batch publishing", () => {
    const batch = (items) => ({
      method: "POST", headers: { "content-type": "application/json" }, body: typeof items === "string" ? items : JSON.stringify(items),
    });

    it("DeliversEachMessageOfAnHttp2BatchToItsUsersHttp2StreamInOrder", T, async () => {
      const alice = uniqueUser("h2alice"), bob = uniqueUser("h2bob");
      const a = await h2sse(session, `/v2/sse?username=${alice}`);
      const b = await h2sse(session, `/v2/sse?username=${bob}`);
      try {
        const res = await h2request(session, "/v2/messages", batch([
          { username: alice, message: "a1" }, { username: bob, message: "b1" }, { username: alice, message: "a2\nsecond line" },
        ]));
        assert.equal(res.status, 200, res.body);
        assert.deepEqual(res.json.ids, [1, 1, 2]);
        await eventually(() => a.parser.events.length === 2 && b.parser.events.length === 1, { ...WAIT, what: "the batch" });
        assert.deepEqual(a.parser.events.map((e) => [e.idField, e.data]), [["1", "a1"], ["2", "a2\nsecond line"]]);
        assert.deepEqual(b.parser.events.map((e) => [e.idField, e.data]), [["1", "b1"]]);
      } finally {
        a.stream.close();
        b.stream.close();
      }
    });

    it("RefusesAnInvalidBatchWholeAsOverHttp1", T, async () => {
      const user = uniqueUser("h2whole");
      for (const items of ["not json", [], [{ username: user, message: "ok" }, { username: "", message: "x" }]]) {
        const h2 = assertSame(await both(server, session, "/v3/messages", batch(items)), 400, { what: JSON.stringify(items) });
        assert.equal(h2.json.error, "invalid_batch");
      }
      const first = await h2request(session, "/v2/messages", batch([{ username: user, message: "first" }]));
      assert.deepEqual(first.json.ids, [1], "nothing of a refused batch was stored");
    });
  });

  describe("Idempotency-Key", () => {
    const keyed = (key, body) => ({
      method: "POST", headers: { "content-type": "text/plain", "idempotency-key": key }, body,
    });

    it("ARetryOverEitherProtocolGetsTheOriginalIdAndStoresOnce", T, async () => {
      const user = uniqueUser("h2idem");
      const p = `/v2/message?username=${user}`;
      const first = await h2request(session, p, keyed("order-1", "pay 10"));
      assert.equal(first.status, 204, first.body);
      const id = first.headers["x-event-id"];
      assert.match(id, /^[1-9]\d*$/);
      const again = await h2request(session, p, keyed("order-1", "pay 10"));
      assert.equal(again.status, 204);
      assert.equal(again.headers["x-event-id"], id);
      const overHttp1 = await publish(server.url, user, "pay 10", { headers: { "Idempotency-Key": "order-1" } });
      assert.equal(overHttp1.status, 204);
      assert.equal(String(overHttp1.id), id);
      // And the other way: a key first used over HTTP/1.1, retried over HTTP/2.
      const h1First = await publish(server.url, user, "pay 20", { headers: { "Idempotency-Key": "order-2" } });
      const h2Retry = await h2request(session, p, keyed("order-2", "pay 20"));
      assert.equal(h2Retry.headers["x-event-id"], String(h1First.id));

      const s = await h2sse(session, `/v2/sse?username=${user}`, { "last-event-id": "0" });
      try {
        await eventually(() => eventData(s.parser).length >= 2, { ...WAIT, what: "the stored events" });
        await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive right behind
        assert.deepEqual(s.parser.events.map((e) => [e.idField, e.data]), [[id, "pay 10"], [String(h1First.id), "pay 20"]]);
      } finally {
        s.stream.close();
      }
    });

    it("RefusesAReusedOrMalformedKeyAsOverHttp1", T, async () => {
      const user = uniqueUser("h2idem-bad");
      const p = `/v2/message?username=${user}`;
      assert.equal((await h2request(session, p, keyed("shared", "one"))).status, 204);
      const reused = assertSame(await both(server, session, p, keyed("shared", "other")), 422);
      assert.equal(reused.json.error, "idempotency_key_reused");
      for (const key of ["has space", "x".repeat(256)]) {
        const malformed = assertSame(await both(server, session, p, keyed(key, "m")), 400, { what: key });
        assert.equal(malformed.json.error, "invalid_idempotency_key");
      }
    });
  });

  describe("streams", () => {
    it("OpensEveryStreamRouteWithTheSameHeadAsHttp1", T, async () => {
      const user = uniqueUser("h2heads");
      const uuid = randomUUID();
      for (const p of [`/v1/sse?username=${user}`, `/v2/sse?username=${user}`, `/v3/sse?username=${user}`, `/v4/sse?user_id=${uuid}`]) {
        const h1 = await sse(`${server.url}${p}`);
        h1.close();
        const h2 = await h2sse(session, p);
        try {
          assert.equal(h1.status, 200, p);
          assert.equal(h2.status, 200, p);
          for (const name of ["content-type", "cache-control", "x-accel-buffering"])
            assert.equal(h2.headers[name], h1.headers[name], `${name} of ${p}`);
          assert.equal(h2.headers.connection, undefined, "no connection-specific field in HTTP/2");
        } finally {
          h2.stream.close();
        }
      }
      // v1 is the demo stream: its "hi" arrives over HTTP/2 too.
      const v1 = await h2sse(session, `/v1/sse?username=${user}`);
      try {
        await eventually(() => v1.parser.events.length >= 1, { ...WAIT, what: "v1's first event" });
      } finally {
        v1.stream.close();
      }
    });

    it("RefusesABadStreamRequestAsOverHttp1", T, async () => {
      for (const p of ["/v2/sse", "/v2/sse?username=", "/v4/sse?user_id=nope"]) {
        const h2 = assertSame(await both(server, session, p, { headers: { accept: "text/event-stream" } }), 400, { what: p });
        assert.equal(typeof h2.json.error, "string", p);
      }
    });
  });
});
