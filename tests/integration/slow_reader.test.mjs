// A client that stops reading is disconnected once its write queue passes
// --stream-queue-bytes; other streams of the same user keep receiving everything, and the slow
// client resumes afterwards from its last id without losing anything.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  SseParser, eventually, metrics, metricsEventually, publishOk, range, showServerLogsOnFailure, sse, startServer,
  uniqueUser, within,
} from "./lib/server.mjs";

showServerLogsOnFailure();

const MESSAGE_BYTES = 32 * 1024;
const body = (i) => `${i}:`.padEnd(MESSAGE_BYTES, "abcdefghijklmnopqrstuvwxyz");

/** A raw connection that sends an SSE request and then stops reading. */
async function stalledStream(port, path) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const chunks = [];
  let ended = false;
  let resolveEnd;
  const endPromise = new Promise((r) => (resolveEnd = r));
  socket.on("data", (chunk) => chunks.push(chunk));
  socket.on("end", () => {
    ended = true;
    resolveEnd("end");
  });
  socket.on("close", () => resolveEnd("close"));
  socket.on("error", () => resolveEnd("error"));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  socket.pause();
  return {
    socket,
    chunks,
    get ended() {
      return ended;
    },
    /** Reads on from here and waits for the server's end of the stream. */
    drain: (timeout) => {
      socket.resume();
      return within(timeout, endPromise, "the slow stream to end after draining");
    },
  };
}

describe("slow reader (--stream-queue-bytes 65536)", () => {
  let server;
  before(async () => {
    server = await startServer(["--stream-queue-bytes", "65536", "--keepalive-ms", "30000"]);
  });
  after(() => server?.dispose());

  it("SlowReaderIsDisconnectedWhileOtherTabKeepsReceivingAndLaterResumesWithoutLoss", { timeout: 90_000 }, async () => {
    const user = uniqueUser("slow");
    const path = `/v2/sse?username=${user}`;
    const before = await metrics(server.url);
    const normal = await sse(`${server.url}${path}`);
    const slow = await stalledStream(server.port, path);
    try {
      await metricsEventually(server.url, (m) => m.get("ssehub_streams_open") === before.get("ssehub_streams_open") + 2,
                              { what: "both streams open" });
      // Publish until the slow stream has overflowed (200 is plenty; more only if the
      // machine's socket buffers swallowed more than expected).
      let published = 0;
      let overflowed = false;
      while (published < 200 || (!overflowed && published < 1_000)) {
        published++;
        assert.equal(await publishOk(server.url, user, body(published)), published);
        if (published % 50 === 0) {
          const m = await metrics(server.url);
          overflowed = m.get("ssehub_queue_overflows_total") > before.get("ssehub_queue_overflows_total");
        }
      }
      const m = await metricsEventually(server.url, (m) =>
        m.get("ssehub_queue_overflows_total") === before.get("ssehub_queue_overflows_total") + 1 &&
        m.get("ssehub_streams_open") === before.get("ssehub_streams_open") + 1,
      { timeout: 10_000, what: "one overflow, one stream left" });
      assert.ok(m, "overflow counted");

      // The normal tab got every message, in order and intact.
      await normal.waitId(published, { timeout: 30_000 });
      assert.deepEqual(normal.ids(), range(1, published));
      assert.ok(normal.data().every((d, i) => d === body(i + 1)), "normal tab's data intact");
      assert.equal(normal.ended, false);

      // The slow client finds its stream ended by the server once it reads again.
      await slow.drain(15_000);
      const raw = Buffer.concat(slow.chunks);
      const headEnd = raw.indexOf("\r\n\r\n");
      assert.match(raw.subarray(0, headEnd).toString("latin1"), /^HTTP\/1\.1 200 /);
      const parser = new SseParser();
      parser.feed(new TextDecoder().decode(raw.subarray(headEnd + 4)));
      const slowIds = parser.events.map((e) => Number(e.idField));
      assert.ok(slowIds.length < published, `the slow client got all ${published} messages: not slow?`);
      assert.deepEqual(slowIds, range(1, slowIds.length), "what it got before the cut is a gapless prefix");
      assert.ok(parser.events.every((e) => e.data === body(Number(e.idField))), "what it got is intact");

      // It resumes from its last id and gets exactly the rest.
      const lastId = parser.lastEventId || "0";
      const resumed = await sse(`${server.url}${path}`, { headers: { "Last-Event-ID": lastId } });
      try {
        await resumed.waitId(published, { timeout: 30_000 });
        assert.deepEqual(resumed.ids(), range(Number(lastId) + 1, published));
        assert.ok(resumed.data().every((d, i) => d === body(Number(lastId) + 1 + i)));
        assert.equal(resumed.data("reset").length, 0);
      } finally {
        resumed.close();
      }
      const final = await metrics(server.url);
      assert.equal(final.get("ssehub_queue_overflows_total") - before.get("ssehub_queue_overflows_total"), 1,
                   "only the slow client overflowed");
      const overflows = (m, protocol) => m.get("ssehub_queue_overflows_total", { protocol });
      assert.equal(overflows(final, "http/1.1") - overflows(before, "http/1.1"), 1, "counted as an HTTP/1.1 stream's");
      assert.equal(overflows(final, "h2"), 0);
      assert.ok(server.logMatching(/too slow/).length >= 1, "the overflow is logged");
    } finally {
      normal.close();
      slow.socket.destroy();
    }
  });

  it("ReaderThatKeepsUpIsNotDisconnectedWhenTwoPublishersSendAtOnce", { timeout: 90_000 }, async () => {
    // The same 200 x 32 KiB, now from two concurrent publishers: the server may commit both
    // messages of a pair in one group and fan them out together. A reader that keeps up is
    // not slow, so it must not be cut off.
    const user = uniqueUser("pair");
    const before = await metrics(server.url);
    const reader = await sse(`${server.url}/v2/sse?username=${user}`);
    try {
      let next = 0;
      const publisher = async () => {
        while (next < 200) {
          const i = ++next;
          await publishOk(server.url, user, body(i));
        }
      };
      await Promise.all([publisher(), publisher()]);
      await reader.waitId(200, { timeout: 30_000 });
      assert.deepEqual(reader.ids(), range(1, 200));
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_queue_overflows_total") - before.get("ssehub_queue_overflows_total"), 0);
    } finally {
      reader.close();
    }
  });
});

// Under AddressSanitizer (scripts/test-sanitize sets ASAN_OPTIONS) everything is several
// times slower and freed memory is quarantined: the bounds below are for liveness, not speed.
const SANITIZED = process.env.ASAN_OPTIONS !== undefined;

describe("resuming a long history (--stream-queue-bytes 65536, --history-max-events 5000)", () => {
  let server;
  const user = uniqueUser("long");
  // 700 x 32 KiB: 350 times the stream's bound, and more than loopback's socket buffers on both
  // sides take, so a client that does not read leaves its replay unfinished.
  const N = 700;
  before(async () => {
    server = await startServer(["--stream-queue-bytes", "65536", "--keepalive-ms", "30000",
                                "--history-max-events", "5000"]);
    for (let i = 1; i <= N; i++) await publishOk(server.url, user, body(i));
  });
  after(() => server?.dispose());

  /** VmRSS of the server in KiB. */
  async function rssKiB() {
    const status = await (await import("node:fs/promises")).readFile(`/proc/${server.proc.pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]);
  }

  it("AReplayIsPagedAsTheClientReadsAndArrivesWholeInOrder", { timeout: 90_000 }, async () => {
    const stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { "Last-Event-ID": "earliest" } });
    try {
      await stream.waitFor((s) => s.events.length === N, { timeout: 60_000, what: "the whole replay" });
      assert.deepEqual(stream.ids(), range(1, N));
      assert.ok(stream.data().every((d, i) => d === body(i + 1)), "every body intact");
      // And live after it, once.
      assert.equal(await publishOk(server.url, user, "live"), N + 1);
      await stream.waitEvents(N + 1);
      assert.deepEqual(stream.ids().slice(-2), [N, N + 1]);
    } finally {
      stream.close();
    }
  });

  it("ResumersThatDoNotReadHoldAboutTheirBoundAndAreCutOffWhenLiveEventsPassIt", { timeout: 180_000 }, async () => {
    const before = await metrics(server.url);
    const rssBefore = await rssKiB();
    // 20 clients ask for 22 MB each and read nothing: without paging the server would queue
    // 440 MB of replay; with it, a page each (32 KiB, half the bound) plus the socket's share.
    const stalled = [];
    for (let i = 0; i < 20; i++) stalled.push(await stalledStream(server.port, `/v2/sse?username=${user}&lastEventId=0`));
    try {
      await metricsEventually(server.url, (m) => m.get("ssehub_resumes_total") >= before.get("ssehub_resumes_total") + 20,
                              { what: "20 resumes" });
      await new Promise((r) => setTimeout(r, 1_000)); // let the first pages go out
      const growthKiB = (await rssKiB()) - rssBefore;
      console.log(`# RSS growth with 20 stalled resumers of ${N * 32} KiB each: ${growthKiB} KiB`);
      if (!SANITIZED) assert.ok(growthKiB < 20 * 1024, `RSS grew ${growthKiB} KiB for 20 stalled resumers`);
      // Live events for the user push each stalled stream past its bound: each is cut off
      // and counted like any slow client.
      // (Until all 20 are cut off: a slower server may still be writing a page to some.)
      let published = 0;
      await eventually(async () => {
        const m = await metrics(server.url);
        if (m.get("ssehub_queue_overflows_total") >= before.get("ssehub_queue_overflows_total") + 20) return true;
        if (published < 40) await publishOk(server.url, user, body(1000 + published++));
        return false;
      }, { timeout: SANITIZED ? 90_000 : 30_000, interval: 100, what: "20 overflows" });
      for (const s of stalled) await s.drain(15_000);
    } finally {
      for (const s of stalled) s.socket.destroy();
    }
  });
});
