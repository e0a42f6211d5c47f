// SIGTERM and SIGINT: open streams end cleanly, the process exits 0 within 5 s, and what was
// acknowledged is in history after a restart.

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  curlSse, eventSource, haveCurl, publish, publishOk, request, showServerLogsOnFailure, sleep, sse, startServer,
  uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };

describe("graceful shutdown", () => {
  let server;
  afterEach(() => server?.dispose());

  for (const signal of ["SIGTERM", "SIGINT"]) {
    it(`${signal}EndsOpenStreamsCleanlyExitsZeroAndKeepsAcknowledgedPublishes`, T, async () => {
      server = await startServer();
      const user = uniqueUser(signal.toLowerCase());
      const v2 = await sse(`${server.url}/v2/sse?username=${user}`);
      const v1 = await sse(`${server.url}/v1/sse?username=${user}`);
      const viaCurl = haveCurl ? curlSse(`${server.url}/v3/sse?username=${user}`) : null;
      try {
        await v1.waitEvents(1);
        if (viaCurl) await viaCurl.waitFor((s) => s.status === 200, { what: "curl: the response head" });
        const id = await publishOk(server.url, user, "just before the signal");
        await v2.waitEvents(1);

        const status = await server.stop(signal, 5_000);
        assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
        assert.equal(status.signal, null);
        assert.ok(status.ms < 5_000, `took ${status.ms} ms`);

        // The stream ends without its last chunk, so that every client takes it as a broken
        // stream and reconnects (a complete body is a normal end, after which some clients
        // stop for good); the connection closes with a FIN, not a reset.
        assert.notEqual(await v2.waitEnd(), "end");
        assert.notEqual(await v1.waitEnd(), "end");
        if (viaCurl) {
          await viaCurl.exit;
          // 18: "transfer closed with outstanding read data remaining"; 56 would be a reset.
          assert.equal(viaCurl.exitCode, 18, `curl: ${viaCurl.stderr}`);
        }
        assert.ok(server.logMatching(new RegExp(`received ${signal}`)).length === 1, "the server logs the signal");

        await server.start();
        const replay = await sse(`${server.url}/v2/sse?username=${user}&lastEventId=earliest`);
        try {
          await replay.waitEvents(1);
          assert.deepEqual(replay.events.map((e) => [e.idField, e.data]), [[String(id), "just before the signal"]]);
        } finally {
          replay.close();
        }
      } finally {
        v2.close();
        v1.close();
        await viaCurl?.close();
      }
    });
  }

  it("PublishesAcknowledgedWhileSigtermArrivesAreKept", T, async () => {
    server = await startServer();
    const user = uniqueUser("term-inflight");
    const acked = new Map();
    let stop = false;
    const worker = async (w) => {
      for (let i = 0; !stop; i++) {
        const body = `w${w} #${i}`;
        try {
          const res = await publish(server.url, user, body);
          if (res.status === 204) acked.set(res.id, body);
          else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${res.body}`);
        } catch (e) {
          if (/unexpected/.test(e.message)) throw e;
          stop = true; // the server is gone
        }
      }
    };
    const workers = [1, 2, 3, 4].map(worker);
    while (acked.size < 30) await sleep(5);
    const status = await server.stop("SIGTERM");
    stop = true;
    await Promise.all(workers);
    assert.equal(status.code, 0);
    await server.start();
    const replay = await sse(`${server.url}/v2/sse?username=${user}&lastEventId=earliest`);
    try {
      const maxAcked = Math.max(...acked.keys());
      await replay.waitId(maxAcked, { timeout: 10_000 });
      const got = new Map(replay.events.map((e) => [Number(e.idField), e.data]));
      for (const [id, body] of acked) assert.equal(got.get(id), body, `acknowledged event ${id}`);
    } finally {
      replay.close();
    }
  });

  it("SigtermWithAStalledStreamStillExitsWithin5Seconds", T, async () => {
    server = await startServer(["--stream-queue-bytes", "100000000"]);
    const user = uniqueUser("term-stalled");
    const net = await import("node:net");
    const socket = net.connect(server.port, "127.0.0.1");
    try {
      socket.on("error", () => {});
      await new Promise((r) => socket.once("connect", r));
      socket.write(`GET /v2/sse?username=${user} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      socket.pause(); // never reads: the server's writes to it stay in flight
      const big = "z".repeat(60_000);
      for (let i = 0; i < 60; i++) await publishOk(server.url, user, big);
      const status = await server.stop("SIGTERM", 5_000);
      assert.equal(status.code, 0);
      assert.ok(status.ms < 5_000, `took ${status.ms} ms`);
    } finally {
      socket.destroy();
    }
  });

  it("EventSourceSeesStreamEndOnSigtermAndTheServerStaysDown", T, async () => {
    server = await startServer();
    const user = uniqueUser("es-term");
    const client = eventSource(`${server.url}/v2/sse?username=${user}`);
    try {
      await client.waitFor((c) => c.opens === 1, { what: "open" });
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0);
      // The stream ending makes EventSource report an error and try again (the server is gone).
      await client.waitFor((c) => c.errors.length >= 1, { timeout: 5_000, what: "error event after the end" });
      assert.notEqual(client.es.readyState, 1);
      await assert.rejects(request(`${server.url}/healthz`, { timeout: 2_000 }));
    } finally {
      client.close();
    }
  });

  it("SigtermWithIdleAndHalfSentRequestsStillExitsPromptly", T, async () => {
    server = await startServer(["--request-timeout-ms", "60000"]);
    const net = await import("node:net");
    const idle = net.connect(server.port, "127.0.0.1");
    const partial = net.connect(server.port, "127.0.0.1");
    try {
      for (const socket of [idle, partial]) socket.on("error", () => {}); // a reset at exit is fine
      await Promise.all([idle, partial].map((s) => new Promise((r) => s.once("connect", r))));
      partial.write("POST /v2/message?username=x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc");
      const status = await server.stop("SIGTERM", 5_000);
      assert.equal(status.code, 0);
      assert.ok(status.ms < 5_000);
    } finally {
      idle.destroy();
      partial.destroy();
    }
  });
});
