// Access control and client limits: JWT subscribers (HS256 and RS256) on every stream and v4
// route, the publish token, the loopback-only default, connections per address and the request
// rate, each refusal with its status, body, headers and metric. Tokens are made here with
// node's crypto.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, randomUUID, sign } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import {
  eventSource, eventually, metrics, request, showServerLogsOnFailure, sleep, sse, startServer, uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };

// ---------------------------------------------------------------------------------------------
// Tokens

const SECRET = "integration-test-secret-of-some-length";
const PUBLISH_TOKEN = "publish-token-for-backends";
const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS: HS256/HS512 with `secret`, RS256 with `privateKey`, or alg none. */
function jwt(claims, { alg = "HS256", secret = SECRET, privateKey, header = {} } = {}) {
  const head = b64url({ alg, typ: "JWT", ...header });
  const payload = b64url(claims);
  const input = `${head}.${payload}`;
  let signature = "";
  if (alg === "HS256") signature = createHmac("sha256", secret).update(input).digest("base64url");
  else if (alg === "HS512") signature = createHmac("sha512", secret).update(input).digest("base64url");
  else if (alg === "RS256") signature = sign("sha256", Buffer.from(input), privateKey).toString("base64url");
  return `${input}.${signature}`;
}

/** A valid token for `user`, one hour long. */
const tokenFor = (user, options) => jwt({ sub: user, iat: now(), exp: now() + 3600 }, options);

// ---------------------------------------------------------------------------------------------
// Clients

/** An HTTP request bound to `localAddress` (another 127.0.0.x is another client address). */
function requestFrom(localAddress, url, options = {}) {
  return request(url, { ...options, localAddress });
}

/** An open SSE response from `localAddress`; resolves {status, close(), closed} once the head is in. */
function streamFrom(localAddress, url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, localAddress, headers: { Accept: "text/event-stream" } }, (res) => {
      const closed = new Promise((done) => res.on("close", done));
      res.resume();
      resolve({ status: res.statusCode, close: () => req.destroy(), closed });
    });
    req.on("error", reject);
  });
}

const reject = (m, reason) => m.get("ssehub_requests_rejected_total", { reason }) ?? 0;

function assertUnauthenticated(res, what) {
  assert.equal(res.status, 401, `${what}: ${res.status} ${res.body}`);
  assert.equal(res.headers["www-authenticate"], "Bearer", what);
  assert.equal(res.json?.error, "unauthenticated", `${what}: ${res.body}`);
  assert.equal(typeof res.json.detail, "string");
}

function assertForbidden(res, what) {
  assert.equal(res.status, 403, `${what}: ${res.status} ${res.body}`);
  assert.equal(res.json?.error, "forbidden", `${what}: ${res.body}`);
}

/** GET of a stream URL: the 200 is kept open only as long as it takes to see the status. */
async function streamStatus(url, headers = {}) {
  const res = await sse(url, { headers });
  res.close?.();
  return res;
}

const publishV = (url, api, user, body, headers = {}) =>
  request(`${url}/${api}/message?username=${encodeURIComponent(user)}`, {
    method: "POST", headers: { "Content-Type": "text/plain", ...headers }, body,
  });

// ---------------------------------------------------------------------------------------------

describe("--auth jwt --jwt-secret (HS256) --publish-token", () => {
  let server;
  before(async () => {
    server = await startServer(["--auth", "jwt", "--jwt-secret", SECRET, "--publish-token", PUBLISH_TOKEN]);
  });
  after(() => server?.dispose());

  const streamUrls = (user) => [
    `/v1/sse?username=${encodeURIComponent(user)}`,
    `/v2/sse?username=${encodeURIComponent(user)}`,
    `/v3/sse?username=${encodeURIComponent(user)}`,
  ];

  it("EveryStreamWithoutATokenIs401WithWwwAuthenticate", T, async () => {
    const user = uniqueUser("anon");
    const uuid = randomUUID();
    const before = await metrics(server.url);
    const urls = [...streamUrls(user), `/v4/sse?user_id=${uuid}`];
    for (const p of urls) assertUnauthenticated(await streamStatus(`${server.url}${p}`), p);
    const m = await metrics(server.url);
    assert.equal(reject(m, "unauthenticated"), reject(before, "unauthenticated") + urls.length);
  });

  it("EveryStreamAcceptsTheUsersTokenInTheHeaderTheCookieOrTheQuery", T, async () => {
    const user = uniqueUser("ok");
    const token = tokenFor(user);
    for (const p of streamUrls(user)) {
      const viaHeader = await streamStatus(`${server.url}${p}`, { Authorization: `Bearer ${token}` });
      assert.equal(viaHeader.status, 200, `${p} with Authorization: ${viaHeader.body}`);
      const viaCookie = await streamStatus(`${server.url}${p}`, { Cookie: `theme=dark; ssehub_token=${token}; x=1` });
      assert.equal(viaCookie.status, 200, `${p} with the cookie: ${viaCookie.body}`);
      const viaQuery = await streamStatus(`${server.url}${p}&token=${token}`);
      assert.equal(viaQuery.status, 200, `${p} with ?token=: ${viaQuery.body}`);
    }
    const uuid = randomUUID();
    const v4 = await streamStatus(`${server.url}/v4/sse?user_id=${uuid}&token=${tokenFor(uuid)}`);
    assert.equal(v4.status, 200, v4.body);
  });

  it("TokenOfAnotherUserIs403", T, async () => {
    const user = uniqueUser("victim");
    const other = tokenFor(uniqueUser("intruder"));
    const before = await metrics(server.url);
    for (const p of streamUrls(user)) {
      assertForbidden(await streamStatus(`${server.url}${p}`, { Authorization: `Bearer ${other}` }), p);
      assertForbidden(await streamStatus(`${server.url}${p}&token=${other}`), `${p}&token=`);
    }
    assertForbidden(await streamStatus(`${server.url}/v4/sse?user_id=${randomUUID()}&token=${tokenFor(randomUUID())}`), "v4");
    const m = await metrics(server.url);
    assert.equal(reject(m, "forbidden"), reject(before, "forbidden") + 7);
  });

  it("ExpiredMalformedWronglySignedAndUnsignedTokensAre401", T, async () => {
    const user = uniqueUser("bad-token");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const bad = {
      "expired an hour ago": jwt({ sub: user, exp: now() - 3600 }),
      "no exp": jwt({ sub: user }),
      "not valid for another hour": jwt({ sub: user, nbf: now() + 3600, exp: now() + 7200 }),
      "no sub": jwt({ exp: now() + 3600 }),
      "empty sub": jwt({ sub: "", exp: now() + 3600 }),
      "another secret": tokenFor(user, { secret: "not-the-secret" }),
      "alg none": jwt({ sub: user, exp: now() + 3600 }, { alg: "none" }),
      "alg none, signature kept": `${b64url({ alg: "none", typ: "JWT" })}.${tokenFor(user).split(".").slice(1).join(".")}`,
      "HS512 with the secret": tokenFor(user, { alg: "HS512" }),
      "RS256 on an HS256 server": tokenFor(user, { alg: "RS256", privateKey }),
      "tampered payload": (() => {
        const [h, , s] = tokenFor(uniqueUser("someone")).split(".");
        return `${h}.${b64url({ sub: user, exp: now() + 3600 })}.${s}`;
      })(),
      "not a JWT": "not-a-jwt",
      "three dots of garbage": "a.b.c",
    };
    for (const [what, token] of Object.entries(bad)) {
      const url = `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;
      assertUnauthenticated(await streamStatus(url, { Authorization: `Bearer ${token}` }), `${what} (header)`);
      assertUnauthenticated(await streamStatus(`${url}&token=${token}`), `${what} (query)`);
    }
  });

  it("ExpiryIsCheckedWithASmallLeewayOnly", T, async () => {
    const user = uniqueUser("leeway");
    const url = `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;
    const justExpired = jwt({ sub: user, exp: now() - 5 });
    assert.equal((await streamStatus(url, { Authorization: `Bearer ${justExpired}` })).status, 200,
                 "5 s past exp is within the clock-skew leeway");
    assertUnauthenticated(await streamStatus(url, { Authorization: `Bearer ${jwt({ sub: user, exp: now() - 120 })}` }),
                          "two minutes past exp");
  });

  it("NpmEventSourceWithTokenInQueryReceivesPublishedEvents", T, async () => {
    const user = uniqueUser("es-query");
    const es = eventSource(`${server.url}/v2/sse?username=${encodeURIComponent(user)}&token=${tokenFor(user)}`);
    try {
      await es.waitFor((c) => c.opens === 1, { what: "the EventSource to open" });
      const res = await publishV(server.url, "v2", user, "for your eyes", { Authorization: `Bearer ${PUBLISH_TOKEN}` });
      assert.equal(res.status, 204, res.body);
      await es.waitEvents(1);
      assert.deepEqual(es.data(), ["for your eyes"]);
    } finally {
      es.close();
    }
  });

  it("NpmEventSourceWithTheCookieReceivesPublishedEvents", T, async () => {
    const user = uniqueUser("es-cookie");
    const es = eventSource(`${server.url}/v3/sse?username=${encodeURIComponent(user)}`,
                           { headers: { Cookie: `ssehub_token=${tokenFor(user)}` } });
    try {
      await es.waitFor((c) => c.opens === 1, { what: "the EventSource to open" });
      const res = await publishV(server.url, "v3", user, "cookie monster", { "X-Publish-Token": PUBLISH_TOKEN });
      assert.equal(res.status, 204, res.body);
      await es.waitEvents(1);
      assert.deepEqual(es.data(), ["cookie monster"]);
    } finally {
      es.close();
    }
  });

  it("NpmEventSourceWithABadTokenFailsAndDoesNotRetry", T, async () => {
    const user = uniqueUser("es-bad");
    const es = eventSource(`${server.url}/v2/sse?username=${encodeURIComponent(user)}&token=${tokenFor("someone-else")}`);
    try {
      await es.waitFor((c) => c.errors.length >= 1, { what: "the EventSource to fail" });
      await sleep(600); // --retry-ms 200: a retrying client would have asked again by now
      assert.equal(es.opens, 0);
      assert.equal(es.requests.length, 1);
      assert.equal(es.es.readyState, 2); // CLOSED
    } finally {
      es.close();
    }
  });

  it("PublishingNeedsThePublishToken", T, async () => {
    const user = uniqueUser("pub");
    const before = await metrics(server.url);
    for (const api of ["v2", "v3"]) {
      const refusals = {
        "no token": {},
        "a wrong bearer": { Authorization: "Bearer not-the-token" },
        "a wrong X-Publish-Token": { "X-Publish-Token": "not-the-token" },
        "the token with another scheme": { Authorization: `Basic ${PUBLISH_TOKEN}` },
        "a prefix of the token": { "X-Publish-Token": PUBLISH_TOKEN.slice(0, -1) },
      };
      for (const [what, headers] of Object.entries(refusals))
        assertUnauthenticated(await publishV(server.url, api, user, "x", headers), `${api} with ${what}`);
      // A valid JWT that does not grant publishing: known, but not allowed.
      const userJwt = await publishV(server.url, api, user, "x", { Authorization: `Bearer ${tokenFor(user)}` });
      assertForbidden(userJwt, `${api} with the user's JWT`);
      assert.match(userJwt.json.detail, /ssehub:publish/);
      assert.equal((await publishV(server.url, api, user, "x", { Authorization: `Bearer ${PUBLISH_TOKEN}` })).status, 204);
      assert.equal((await publishV(server.url, api, user, "x", { "X-Publish-Token": PUBLISH_TOKEN })).status, 204);
      assert.equal((await publishV(server.url, api, user, "x", { authorization: `bearer ${PUBLISH_TOKEN}` })).status, 204,
                   "the scheme is case-insensitive");
    }
    const m = await metrics(server.url);
    assert.equal(reject(m, "unauthenticated"), reject(before, "unauthenticated") + 10);
  });

  // Regression: has_publish_token (src/auth/access_policy.cpp:74-82) falls back to
  // bearer_token(), which also reads the cookie and ?token=: the backend secret is accepted in
  // the URL, where access logs and proxies keep it.
  it("PublishTokenIsTakenOnlyFromAuthorizationOrXPublishToken", T, async () => {
    const user = uniqueUser("pub-where");
    assertUnauthenticated(await request(`${server.url}/v2/message?username=${user}&token=${PUBLISH_TOKEN}`, {
      method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" }), "publish token in the query");
    assertUnauthenticated(await publishV(server.url, "v2", user, "x", { Cookie: `ssehub_token=${PUBLISH_TOKEN}` }),
                          "publish token in the cookie");
  });

  // Regression: bearer_token (src/auth/access_policy.cpp:49-56) prefers the cookie to
  // ?token=, so a stale cookie shadows the fresh token a page puts in its EventSource URL, and
  // the page gets 401 until the cookie is gone.
  it("TokenInTheQueryWinsOverAStaleCookie", T, async () => {
    const user = uniqueUser("stale-cookie");
    const stale = jwt({ sub: user, exp: now() - 3600 });
    const res = await streamStatus(`${server.url}/v2/sse?username=${user}&token=${tokenFor(user)}`,
                                   { Cookie: `ssehub_token=${stale}` });
    assert.equal(res.status, 200, `${res.status} ${res.body}`);
  });

  it("V4RoutesNeedTheUsersTokenAndPutAlsoTakesThePublishToken", T, async () => {
    const user = randomUUID();
    const own = { Authorization: `Bearer ${tokenFor(user)}` };
    const other = { Authorization: `Bearer ${tokenFor(randomUUID())}` };
    const create = (headers) => request(`${server.url}/v4/new/report?user_id=${user}`, { method: "POST", headers });
    const list = (headers) => request(`${server.url}/v4/reports?user_id=${user}`, { headers });
    const put = (id, status, headers) => request(`${server.url}/v4/report?user_id=${user}`, {
      method: "PUT", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify({ id, status }),
    });

    assertUnauthenticated(await create({}), "create without a token");
    assertForbidden(await create(other), "create with another user's token");
    assertUnauthenticated(await create({ Authorization: `Bearer ${PUBLISH_TOKEN}` }), "create with the publish token");
    const created = await create(own);
    assert.equal(created.status, 201, created.body);
    const id = created.json.reportId;

    assertUnauthenticated(await list({}), "list without a token");
    assertForbidden(await list(other), "list with another user's token");
    const listed = await list({ Cookie: `ssehub_token=${tokenFor(user)}` });
    assert.equal(listed.status, 200, listed.body);
    assert.deepEqual(listed.json.map((r) => r.reportId), [id]);

    assertUnauthenticated(await put(id, "queued", {}), "PUT without a token");
    assertForbidden(await put(id, "queued", other), "PUT with another user's token");
    assertUnauthenticated(await put(id, "queued", { "X-Publish-Token": "wrong" }), "PUT with a wrong publish token");
    const byUser = await put(id, "queued", own);
    assert.equal(byUser.status, 200, byUser.body);
    const byBackend = await put(id, "processing", { "X-Publish-Token": PUBLISH_TOKEN });
    assert.equal(byBackend.status, 200, byBackend.body);
    const byBackendBearer = await put(id, "completed", { Authorization: `Bearer ${PUBLISH_TOKEN}` });
    assert.equal(byBackendBearer.status, 200, byBackendBearer.body);
    assert.equal(byBackendBearer.json.reportStatus, "completed");
  });

  // Regression: src/auth/access_policy.cpp:69 compares `sub` with the canonical
  // (lower-case) user_id byte for byte, so a capitalised UUID in `sub` is refused with 403.
  it("V4AcceptsATokenWhoseSubIsTheUserIdInCapitals", T, async () => {
    // user_id is a UUID, compared in its canonical (lower-case) form everywhere else: a token
    // issued for the same UUID written in capitals names the same user.
    const user = randomUUID();
    const upper = user.toUpperCase();
    const token = tokenFor(upper);
    const stream = await streamStatus(`${server.url}/v4/sse?user_id=${upper}&token=${token}`);
    assert.equal(stream.status, 200, `GET /v4/sse with sub=${upper}: ${stream.status} ${stream.body}`);
    const created = await request(`${server.url}/v4/new/report?user_id=${user}`, {
      method: "POST", headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(created.status, 201, `POST /v4/new/report with sub=${upper}: ${created.body}`);
  });
});

describe("--auth jwt --jwt-public-key-file (RS256)", () => {
  let server;
  let dir;
  let keys;
  let publicPem;
  before(async () => {
    keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    publicPem = keys.publicKey.export({ type: "spki", format: "pem" });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-auth-"));
    const keyFile = path.join(dir, "public.pem");
    await fs.writeFile(keyFile, publicPem);
    server = await startServer(["--auth", "jwt", "--jwt-public-key-file", keyFile]);
  });
  after(async () => {
    await server?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("Rs256TokenOfTheKeyPairIsAcceptedAndOthersAre401", T, async () => {
    const user = uniqueUser("rsa");
    const url = `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;
    const good = tokenFor(user, { alg: "RS256", privateKey: keys.privateKey });
    assert.equal((await streamStatus(url, { Authorization: `Bearer ${good}` })).status, 200);
    assert.equal((await streamStatus(`${url}&token=${good}`)).status, 200);
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const bad = {
      "another key pair": tokenFor(user, { alg: "RS256", privateKey: stranger }),
      "HS256 keyed with the public key (algorithm confusion)": tokenFor(user, { secret: publicPem }),
      "HS256 with some secret": tokenFor(user),
      "alg none": jwt({ sub: user, exp: now() + 3600 }, { alg: "none" }),
      "expired": jwt({ sub: user, exp: now() - 3600 }, { alg: "RS256", privateKey: keys.privateKey }),
    };
    for (const [what, token] of Object.entries(bad))
      assertUnauthenticated(await streamStatus(url, { Authorization: `Bearer ${token}` }), what);
    assertForbidden(await streamStatus(url, { Authorization: `Bearer ${tokenFor("x", { alg: "RS256", privateKey: keys.privateKey })}` }),
                    "RS256 token of another user");
  });

  it("WithoutAPublishTokenPublishingNeedsAJwtThatGrantsIt", T, async () => {
    // --auth jwt and no --publish-token: publishing is not open to anyone who can connect.
    const user = uniqueUser("rsa-pub");
    const rsa = (claims) => jwt({ iat: now(), exp: now() + 3600, ...claims }, { alg: "RS256", privateKey: keys.privateKey });
    const es = eventSource(`${server.url}/v2/sse?username=${encodeURIComponent(user)}&token=${rsa({ sub: user })}`);
    try {
      await es.waitFor((c) => c.opens === 1, { what: "the EventSource to open" });
      assertUnauthenticated(await publishV(server.url, "v2", user, "anonymous"), "no credential");
      assertForbidden(await publishV(server.url, "v2", user, "user", { Authorization: `Bearer ${rsa({ sub: user })}` }),
                      "the subscriber's own JWT");
      assertForbidden(await publishV(server.url, "v2", user, "other scope",
                                     { Authorization: `Bearer ${rsa({ sub: "backend", scope: "read ssehub:publisher" })}` }),
                      "a scope that only looks like it");
      const publisher = rsa({ sub: "backend", scope: "profile ssehub:publish" });
      // Only from the Authorization header: a cookie or URL would let any page publish.
      assertUnauthenticated(await publishV(server.url, "v2", user, "cookie", { Cookie: `ssehub_token=${publisher}` }), "cookie");
      const viaQuery = await request(`${server.url}/v2/message?username=${encodeURIComponent(user)}&token=${publisher}`,
                                     { method: "POST", body: "query" });
      assertUnauthenticated(viaQuery, "?token=");
      const ok = await publishV(server.url, "v2", user, "granted", { Authorization: `Bearer ${publisher}` });
      assert.equal(ok.status, 204, ok.body);
      await es.waitEvents(1);
      assert.deepEqual(es.data(), ["granted"]);
    } finally {
      es.close();
    }
  });

});

describe("both keys (--jwt-secret and --jwt-public-key-file)", () => {
  let server;
  let dir;
  let keys;
  let publicPem;
  before(async () => {
    keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    publicPem = keys.publicKey.export({ type: "pkcs1", format: "pem" });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-auth-"));
    const keyFile = path.join(dir, "public.pem");
    await fs.writeFile(keyFile, keys.publicKey.export({ type: "spki", format: "pem" }));
    server = await startServer(["--auth", "jwt", "--jwt-secret", SECRET, "--jwt-public-key-file", keyFile]);
  });
  after(async () => {
    await server?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("EachAlgorithmIsCheckedWithItsOwnKeyOnly", T, async () => {
    const user = uniqueUser("both");
    const url = `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;
    assert.equal((await streamStatus(url, { Authorization: `Bearer ${tokenFor(user)}` })).status, 200);
    assert.equal((await streamStatus(url, { Authorization: `Bearer ${tokenFor(user, { alg: "RS256", privateKey: keys.privateKey })}` })).status, 200);
    const spki = keys.publicKey.export({ type: "spki", format: "pem" });
    for (const secret of [spki, publicPem])
      assertUnauthenticated(await streamStatus(url, { Authorization: `Bearer ${tokenFor(user, { secret })}` }),
                            "HS256 keyed with the public key");
  });
});

describe("listening beyond loopback", () => {
  it("WithoutAuthenticationTheServerRefusesToStart", T, async () => {
    for (const host of ["0.0.0.0", "::"]) {
      await assert.rejects(startServer(["--host", host]), (e) => {
        assert.match(e.message, /"code":2/);
        assert.match(e.message, /refusing to listen on .* without authentication; configure --auth jwt, or pass --insecure-open/);
        return true;
      }, host);
    }
  });

  it("LoopbackAddressesNeedNoAuthentication", T, async () => {
    for (const host of ["127.0.0.1", "localhost", "127.0.0.2"]) {
      const server = await startServer(["--host", host]);
      await server.dispose();
    }
  });

  it("InsecureOpenStartsAndWarns", T, async () => {
    const server = await startServer(["--host", "0.0.0.0", "--insecure-open"]);
    try {
      // Output arrives over a pipe, not necessarily before the port file the start waited for.
      await eventually(() => server.logMatching(/warn.*listening on 0\.0\.0\.0 with no authentication \(--insecure-open\)/).length === 1,
                       { what: "the --insecure-open warning" });
      assert.equal((await request(`${server.url}/healthz`)).status, 200);
    } finally {
      await server.dispose();
    }
  });

  it("WithJwtAuthTheServerStartsWithoutWarning", T, async () => {
    const server = await startServer(["--host", "0.0.0.0", "--auth", "jwt", "--jwt-secret", SECRET]);
    try {
      assert.equal(server.logMatching(/no authentication/).length, 0, server.logText());
      const user = uniqueUser("wide");
      assertUnauthenticated(await streamStatus(`${server.url}/v2/sse?username=${user}`), "no token");
      assert.equal((await streamStatus(`${server.url}/v2/sse?username=${user}&token=${tokenFor(user)}`)).status, 200);
    } finally {
      await server.dispose();
    }
  });

  it("JwtAuthWithoutAKeyIsAConfigurationError", T, async () => {
    await assert.rejects(startServer(["--auth", "jwt"]), (e) => {
      assert.match(e.message, /"code":2/);
      assert.match(e.message, /--auth jwt needs --jwt-secret or --jwt-public-key-file/);
      return true;
    });
  });
});

describe("--max-connections-per-ip 3", () => {
  let server;
  before(async () => {
    server = await startServer(["--max-connections-per-ip", "3"]);
  });
  after(() => server?.dispose());

  it("ConnectionAboveTheLimitGets429JsonAndIsClosedWhileOtherAddressesAreServed", T, async () => {
    const address = "127.0.0.2";
    const before = await metrics(server.url);
    const streams = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = await streamFrom(address, `${server.url}/v2/sse?username=${uniqueUser("cap")}`);
        assert.equal(s.status, 200);
        streams.push(s);
      }
      const refused = await requestFrom(address, `${server.url}/healthz`);
      assert.equal(refused.status, 429);
      assert.equal(refused.json.error, "too_many_connections");
      assert.equal(refused.headers["retry-after"], "5");
      assert.equal(refused.headers.connection, "close");
      // The limit is per address: 127.0.0.1 is served meanwhile.
      assert.equal((await requestFrom("127.0.0.1", `${server.url}/healthz`)).status, 200);
      const m = await metrics(server.url);
      assert.equal(reject(m, "too_many_connections"), reject(before, "too_many_connections") + 1);

      const gone = streams.pop();
      gone.close();
      await gone.closed;
      await eventually(async () => (await requestFrom(address, `${server.url}/healthz`)).status === 200,
                       { what: "the freed slot to be usable" });
    } finally {
      for (const s of streams) s.close();
    }
  });
});

describe("--rate-limit-rps 0.5 --rate-limit-burst 3", () => {
  let server;
  before(async () => {
    // A slow refill (one request every 2 s), so the seven requests below fit in one interval
    // even on a loaded machine.
    server = await startServer(["--rate-limit-rps", "0.5", "--rate-limit-burst", "3"]);
  });
  after(() => server?.dispose());

  it("RequestsBeyondTheBurstGet429WithRetryAfterUntilTheBucketRefills", T, async () => {
    const address = "127.0.0.3";
    const url = `${server.url}/healthz`;
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await requestFrom(address, url));
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 429, 429]);
    const limited = answers[3];
    assert.equal(limited.json.error, "rate_limited");
    assert.match(limited.headers["retry-after"], /^[1-9][0-9]*$/);
    // Another address has a bucket of its own.
    assert.equal((await requestFrom("127.0.0.4", url)).status, 200);
    // A stream counts as a request too.
    const stream = await requestFrom(address, `${server.url}/v2/sse?username=${uniqueUser("rl")}`);
    assert.equal(stream.status, 429);

    await sleep(Number(limited.headers["retry-after"]) * 1000 + 100);
    assert.equal((await requestFrom(address, url)).status, 200, "the bucket refilled");

    const m = await metrics(server.url); // from 127.0.0.1, its own bucket
    assert.ok(reject(m, "rate_limited") >= 3, `rate_limited=${reject(m, "rate_limited")}`);
  });
});
