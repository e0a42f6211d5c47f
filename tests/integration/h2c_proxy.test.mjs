// ssehub behind a proxy that speaks h2c to it, as README's HTTP/2 section tells operators to run
// it: Debian's HAProxy takes HTTP/1.1 from clients and forwards every request over cleartext
// HTTP/2 with prior knowledge (`proto h2`). Streams, publishing and resume must pass through,
// and ssehub must really have been spoken to in HTTP/2 (its metrics count the streams as h2).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  eventually, freePort, metrics, publishOk, request, showServerLogsOnFailure, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 60_000 };
const haveHaproxy = spawnSync("haproxy", ["-v"]).status === 0;
const SKIP = haveHaproxy ? false : "haproxy is not installed (scripts/bootstrap installs it)";

describe("behind HAProxy speaking h2c to ssehub", { skip: SKIP }, () => {
  let server;
  let proxy;
  let proxyUrl;
  let dir;

  before(async () => {
    server = await startServer(["--http2"]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-h2c-proxy-"));
    const port = await freePort();
    proxyUrl = `http://127.0.0.1:${port}`;
    const config = `global
  maxconn 1024
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  option http-no-delay
frontend clients
  bind 127.0.0.1:${port}
  default_backend ssehub
backend ssehub
  server s1 127.0.0.1:${new URL(server.url).port} proto h2
`;
    const file = path.join(dir, "haproxy.cfg");
    await fs.writeFile(file, config);
    proxy = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    proxy.stdout.on("data", (d) => (output += d));
    proxy.stderr.on("data", (d) => (output += d));
    await eventually(async () => {
      try {
        return (await request(`${proxyUrl}/healthz`, { timeout: 1_000 })).status === 200;
      } catch {
        return false;
      }
    }, { timeout: 10_000, interval: 100, what: `HAProxy to answer (${output})` });
  });

  after(async () => {
    proxy?.kill("SIGKILL");
    await server?.dispose();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const streamsOpen = (m, protocol) => m.get(`ssehub_streams_open{protocol="${protocol}"}`) ?? 0;

  it("DeliversEveryMessageToEveryStreamOpenedThroughTheProxyAsHttp2Streams", T, async () => {
    const user = uniqueUser("h2cproxy");
    const before = await metrics(server.url);
    const streams = await Promise.all([1, 2, 3].map(() => sse(`${proxyUrl}/v2/sse?username=${user}`)));
    try {
      for (const s of streams) assert.equal(s.status, 200);
      await eventually(async () => streamsOpen(await metrics(server.url), "h2") === streamsOpen(before, "h2") + 3,
        { what: "three h2 streams at ssehub" });
      assert.equal(streamsOpen(await metrics(server.url), "http/1.1"), streamsOpen(before, "http/1.1"));
      const ids = [];
      for (const text of ["one", "two\nlines", "three"]) ids.push(await publishOk(proxyUrl, user, text));
      for (const s of streams) {
        await s.waitEvents(3, { timeout: 10_000 });
        assert.deepEqual(s.data(), ["one", "two\nlines", "three"]);
        assert.deepEqual(s.ids(), ids);
      }
    } finally {
      for (const s of streams) s.close();
    }
  });

  it("ResumesThroughTheProxyFromLastEventId", T, async () => {
    const user = uniqueUser("h2cresume");
    const first = await publishOk(proxyUrl, user, "a");
    await publishOk(proxyUrl, user, "b");
    await publishOk(proxyUrl, user, "c");
    const s = await sse(`${proxyUrl}/v2/sse?username=${user}`, { headers: { "Last-Event-ID": String(first) } });
    try {
      await s.waitEvents(2, { timeout: 10_000 });
      assert.deepEqual(s.data(), ["b", "c"]);
      assert.equal(s.lastEventId, String(first + 2));
    } finally {
      s.close();
    }
  });

  it("PassesBadInputErrorsThroughAsJson", T, async () => {
    const res = await request(`${proxyUrl}/v2/message`, { method: "POST", body: "no user" });
    assert.equal(res.status, 400);
    assert.match(res.headers["content-type"], /^application\/json/);
    assert.equal(typeof JSON.parse(res.body).error, "string");
  });
});
