// CORS: localhost origins are allowed by default, others are not; --cors-origins allows
// exactly the listed ones; preflight on /v2/message answers 204 with the allowed methods.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { curl, haveCurl, publish, request, showServerLogsOnFailure, sse, startServer, uniqueUser } from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };
const DEV = "http://localhost:5173";
const EVIL = "https://evil.example";
const APP = "https://app.example";

describe("CORS with the default policy", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  it("LocalhostOriginIsAllowedOnStreamsPublishesAndOps", T, async () => {
    const user = uniqueUser("cors");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { Origin: DEV } });
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["access-control-allow-origin"], DEV);
      const res = await publish(server.url, user, "hi", { headers: { Origin: DEV } });
      assert.equal(res.status, 204);
      assert.equal(res.headers["access-control-allow-origin"], DEV);
      const health = await request(`${server.url}/healthz`, { headers: { Origin: DEV } });
      assert.equal(health.headers["access-control-allow-origin"], DEV);
      const v1 = await sse(`${server.url}/v1/sse?username=${user}`, { headers: { Origin: "http://127.0.0.1:8080" } });
      assert.equal(v1.headers["access-control-allow-origin"], "http://127.0.0.1:8080");
      v1.close();
    } finally {
      stream.close();
    }
  });

  it("ForeignOriginGetsNoAllowOriginHeader", T, async () => {
    const user = uniqueUser("cors-evil");
    const stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { Origin: EVIL } });
    try {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers["access-control-allow-origin"], undefined);
      const res = await publish(server.url, user, "hi", { headers: { Origin: EVIL } });
      assert.equal(res.headers["access-control-allow-origin"], undefined);
      // A look-alike of localhost is not localhost.
      const lookalike = await publish(server.url, user, "hi", { headers: { Origin: "http://localhost.evil.example" } });
      assert.equal(lookalike.headers["access-control-allow-origin"], undefined);
    } finally {
      stream.close();
    }
  });

  it("PreflightOnMessageAnswers204WithAllowedMethods", T, async () => {
    const res = await request(`${server.url}/v2/message?username=x`, {
      method: "OPTIONS",
      headers: { Origin: DEV, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], DEV);
    const methods = res.headers["access-control-allow-methods"] ?? "";
    assert.match(methods, /\bPOST\b/);
    assert.match(res.headers["access-control-allow-headers"] ?? "", /content-type/i);
    assert.equal(res.body, "");
  });

  it("PreflightAllowsEveryHeaderAPublisherOrStreamMaySend", T, async () => {
    // A browser on an allowed origin must be able to send each request header ssehub reads:
    // a header left out of the list makes the browser refuse the request before it leaves.
    const wanted = ["content-type", "idempotency-key", "x-publish-token", "authorization", "last-event-id"];
    const res = await request(`${server.url}/v2/message?username=x`, {
      method: "OPTIONS",
      headers: { Origin: DEV, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": wanted.join(",") },
    });
    assert.equal(res.status, 204);
    const allowed = (res.headers["access-control-allow-headers"] ?? "").toLowerCase().split(/\s*,\s*/);
    for (const header of wanted) assert.ok(allowed.includes(header), `${header} is not in ${allowed}`);
  });

  it("PreflightWorksWithCurl", CURL, async () => {
    const res = await curl(["-s", "-i", "-X", "OPTIONS", "-H", `Origin: ${DEV}`,
                            "-H", "Access-Control-Request-Method: POST", `${server.url}/v3/message?username=x`]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^HTTP\/1\.1 204 /);
    assert.match(res.stdout, /\r\nAccess-Control-Allow-Methods: [^\r]*POST/i);
    assert.match(res.stdout, new RegExp(`\\r\\nAccess-Control-Allow-Origin: ${DEV}\\r\\n`, "i"));
  });
});

describe("CORS with --cors-origins https://app.example", () => {
  let server;
  before(async () => {
    server = await startServer(["--cors-origins", APP]);
  });
  after(() => server?.dispose());

  it("OnlyTheConfiguredOriginIsAllowed", T, async () => {
    const user = uniqueUser("cors-app");
    for (const [origin, allowed] of [[APP, APP], [DEV, undefined], [EVIL, undefined], [`${APP}:8443`, undefined]]) {
      const res = await publish(server.url, user, "hi", { headers: { Origin: origin } });
      assert.equal(res.status, 204);
      assert.equal(res.headers["access-control-allow-origin"], allowed, `Origin ${origin}`);
    }
    const stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { Origin: APP } });
    try {
      assert.equal(stream.headers["access-control-allow-origin"], APP);
    } finally {
      stream.close();
    }
    const preflight = await request(`${server.url}/v2/message?username=x`, {
      method: "OPTIONS", headers: { Origin: APP, "Access-Control-Request-Method": "POST" } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers["access-control-allow-origin"], APP);
  });
});
