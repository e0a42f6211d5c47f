// Resuming a stream: Last-Event-ID (header or ?lastEventId=), `earliest`, `reset` when history
// no longer holds the id, the npm EventSource's own reconnection across a server restart, and
// the same with the history kept in memory.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import {
  curlSse, eventSource, haveCurl, metrics, metricsEventually, publishOk, range, request,
  showServerLogsOnFailure, sleep, sse, startServer, uniqueUser,
} from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };

describe("resume from history", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  const streamUrl = (user, query = "") => `${server.url}/v2/sse?username=${encodeURIComponent(user)}${query}`;

  async function publishMany(user, from, to) {
    for (let i = from; i <= to; i++) assert.equal(await publishOk(server.url, user, `m${i}`), i);
  }

  it("ResumeWithLastEventIdHeaderReplaysMissedMessagesThenLiveOnes", T, async () => {
    const user = uniqueUser("hdr");
    const first = await sse(streamUrl(user));
    await publishMany(user, 1, 2);
    await first.waitEvents(2);
    first.close();
    await publishMany(user, 3, 5); // while nobody is connected
    const before = await metrics(server.url);
    const again = await sse(streamUrl(user), { headers: { "Last-Event-ID": first.lastEventId } });
    try {
      assert.equal(first.lastEventId, "2");
      assert.equal(again.status, 200);
      await again.waitEvents(3);
      await publishMany(user, 6, 6);
      await again.waitEvents(4);
      assert.deepEqual(again.ids(), [3, 4, 5, 6]);
      assert.deepEqual(again.data(), ["m3", "m4", "m5", "m6"]);
      assert.ok(again.textWithoutKeepAlives.startsWith("retry: 200\nid: 3\ndata: m3\n\n"), JSON.stringify(again.text));
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_resumes_total") - before.get("ssehub_resumes_total"), 1);
      assert.equal(m.get("ssehub_resets_total") - before.get("ssehub_resets_total"), 0);
    } finally {
      again.close();
    }
  });

  it("ResumeWithLastEventIdQueryParameterReplaysMissedMessages", T, async () => {
    const user = uniqueUser("query");
    await publishMany(user, 1, 4);
    const stream = await sse(streamUrl(user, "&lastEventId=1"));
    try {
      await stream.waitEvents(3);
      await publishMany(user, 5, 5);
      await stream.waitEvents(4);
      assert.deepEqual(stream.ids(), [2, 3, 4, 5]);
    } finally {
      stream.close();
    }
  });

  it("ResumeFromTheNewestIdReplaysNothingAndContinuesLive", T, async () => {
    const user = uniqueUser("newest");
    await publishMany(user, 1, 3);
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "3" } });
    try {
      await publishMany(user, 4, 4);
      await stream.waitEvents(1);
      assert.deepEqual(stream.events.map((e) => [e.type, e.idField]), [["message", "4"]]);
    } finally {
      stream.close();
    }
  });

  it("HeaderWinsOverQueryWhenBothAreGiven", T, async () => {
    const user = uniqueUser("both");
    await publishMany(user, 1, 5);
    const stream = await sse(streamUrl(user, "&lastEventId=1"), { headers: { "Last-Event-ID": "4" } });
    try {
      await stream.waitEvents(1);
      await publishMany(user, 6, 6);
      await stream.waitEvents(2);
      assert.deepEqual(stream.ids(), [5, 6]);
    } finally {
      stream.close();
    }
  });

  it("EarliestInQueryReplaysEverythingToAClientNeverConnectedBefore", T, async () => {
    const user = uniqueUser("earliest-q");
    await publishMany(user, 1, 3);
    const stream = await sse(streamUrl(user, "&lastEventId=earliest"));
    try {
      await stream.waitEvents(3);
      await publishMany(user, 4, 4);
      await stream.waitEvents(4);
      assert.deepEqual(stream.ids(), [1, 2, 3, 4]);
      assert.deepEqual(stream.data(), ["m1", "m2", "m3", "m4"]);
      assert.equal(stream.events.filter((e) => e.type !== "message").length, 0);
    } finally {
      stream.close();
    }
  });

  it("LastEventIdSentTwiceResumesFromTheNewest", T, async () => {
    // fetch() joins a caller's `Last-Event-ID` and @microsoft/fetch-event-source's own
    // `last-event-id` into one list; answering 400 made that client retry for ever.
    const user = uniqueUser("twice");
    for (let i = 1; i <= 4; i++) await publishOk(server.url, user, `m${i}`);
    for (const headers of [{ "Last-Event-ID": ["earliest", "2"] }, { "Last-Event-ID": "1, 2" }]) {
      const stream = await sse(`${server.url}/v2/sse?username=${user}`, { headers });
      try {
        assert.equal(stream.status, 200);
        await stream.waitEvents(2);
        assert.deepEqual(stream.ids(), [3, 4]);
      } finally {
        stream.close();
      }
    }
    const bad = await sse(`${server.url}/v2/sse?username=${user}`, { headers: { "Last-Event-ID": ["2", "x"] } });
    assert.equal(bad.status, 400);
  });

  it("EarliestInHeaderReplaysEverythingWithCurl", CURL, async () => {
    const user = uniqueUser("earliest-h");
    await publishMany(user, 1, 2);
    const stream = curlSse(streamUrl(user), ["-H", "Last-Event-ID: earliest"]);
    try {
      await stream.waitEvents(2);
      assert.deepEqual(stream.ids(), [1, 2]);
      assert.ok(stream.textWithoutKeepAlives.startsWith("retry: 200\nid: 1\ndata: m1\n\nid: 2\ndata: m2\n\n"), JSON.stringify(stream.text));
    } finally {
      await stream.close();
    }
  });

  it("ResumeFromIdZeroReplaysEverything", T, async () => {
    const user = uniqueUser("zero");
    await publishMany(user, 1, 3);
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "0" } });
    try {
      await stream.waitEvents(3);
      assert.deepEqual(stream.ids(), [1, 2, 3]);
      assert.equal(stream.data("reset").length, 0);
    } finally {
      stream.close();
    }
  });

  it("ResumeFromAnIdNeverIssuedSendsResetThenLiveEvents", T, async () => {
    const user = uniqueUser("unknown");
    await publishMany(user, 1, 2);
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "7" } });
    try {
      await stream.waitEvents(1, { type: "reset" });
      assert.ok(JSON.parse(stream.data("reset")[0]).reason);
      assert.equal(stream.lastEventId, "2", "the reset moves the client to the stream's real position");
      await publishMany(user, 3, 3);
      await stream.waitEvents(1);
      assert.deepEqual(stream.ids(), [3]);
    } finally {
      stream.close();
    }
  });

  it("ClientResumingAgainAfterAResetForAStreamWithoutHistoryLosesNothing", T, async () => {
    // The client holds id 5 from a history this server does not have (wiped data dir, another
    // deployment). The reset must move it to the stream's real position (0 here: nothing yet),
    // or its next reconnection resumes from 5 again and skips what was published meanwhile.
    const user = uniqueUser("unknown-empty");
    const first = await sse(streamUrl(user), { headers: { "Last-Event-ID": "5" } });
    await first.waitEvents(1, { type: "reset" });
    first.close();
    await publishMany(user, 1, 2); // while the client is away
    // What an EventSource sends next: the reset's id if it had one, else still "5".
    const held = first.events[0].idField ?? "5";
    const again = await sse(streamUrl(user), { headers: held === "" ? {} : { "Last-Event-ID": held } });
    try {
      await publishMany(user, 3, 3);
      await again.waitFor((s) => s.ids().includes(3), { what: "id 3" });
      assert.deepEqual(again.data(), ["m1", "m2", "m3"],
                       `client resumed with Last-Event-ID ${JSON.stringify(held)} after the reset ` +
                       `frame ${JSON.stringify(first.text.split("\n\n")[1])}`);
    } finally {
      again.close();
    }
  });

  it("ReconnectingRepeatedlyDuringContinuousPublishingLosesAndDuplicatesNothing", { timeout: 60_000 }, async () => {
    const user = uniqueUser("churn");
    const MIN_MESSAGES = 150;
    const MIN_CONNECTIONS = 16;
    const before = await metrics(server.url);
    const received = [];
    const data = new Map();
    let last = null;
    let resumes = 0;
    let connections = 1;

    // The first connection starts before anything is published, so it sees id 1 live.
    let current = await sse(streamUrl(user));
    let published = 0;
    let publisherDone = false;
    // Publishes without pause until both enough messages and enough reconnections happened.
    const publisher = (async () => {
      while ((published < MIN_MESSAGES || connections < MIN_CONNECTIONS) && published < 5_000) {
        assert.equal(await publishOk(server.url, user, `msg ${published + 1}`), published + 1);
        published++;
      }
      publisherDone = true;
    })();
    publisher.catch(() => {});

    for (;;) {
      if (publisherDone) {
        const total = String(published);
        await current.waitFor((s) => s.lastEventId === total || last === total,
                              { timeout: 10_000, what: `id ${total}` });
      } else {
        await sleep(10 + Math.floor(Math.random() * 90));
      }
      current.close();
      for (const event of current.events) {
        received.push(Number(event.idField));
        data.set(Number(event.idField), event.data);
      }
      if (current.lastEventId !== "") last = current.lastEventId;
      if (publisherDone && last === String(published)) break;
      if (Math.random() < 0.3) await sleep(Math.floor(Math.random() * 50)); // miss some live ones
      // Alternate the two ways of resuming; before the first event, resume from 0.
      const from = last ?? "0";
      resumes++;
      connections++;
      current = connections % 2 === 0
        ? await sse(streamUrl(user), { headers: { "Last-Event-ID": from } })
        : await sse(streamUrl(user, `&lastEventId=${from}`));
      assert.equal(current.status, 200);
    }
    await publisher;
    assert.ok(connections >= MIN_CONNECTIONS, `only ${connections} connections`);
    assert.ok(published >= MIN_MESSAGES);
    assert.deepEqual(received, range(1, published), "ids received across reconnections");
    for (const id of range(1, published)) assert.equal(data.get(id), `msg ${id}`);
    const m = await metrics(server.url);
    assert.equal(m.get("ssehub_resumes_total") - before.get("ssehub_resumes_total"), resumes);
    assert.equal(m.get("ssehub_resets_total") - before.get("ssehub_resets_total"), 0);
  });

  it("EventSourceReconnectsAfterServerRestartAndResumesWithLastEventId", T, async () => {
    const user = uniqueUser("es-restart");
    const client = eventSource(streamUrl(user));
    try {
      await client.waitFor((c) => c.opens === 1, { what: "open" });
      await publishMany(user, 1, 3);
      await client.waitEvents(3);
      // Hold the EventSource's next connection so that what follows is published while it
      // is certainly disconnected.
      client.hold();
      await server.restart();
      await client.waitFor((c) => c.requests.length === 2, { timeout: 5_000, what: "reconnect attempt" });
      await publishMany(user, 4, 6);
      client.release();
      await client.waitEvents(6, { timeout: 10_000 });
      await publishMany(user, 7, 7);
      await client.waitEvents(7);
      assert.equal(client.requests[1].headers["Last-Event-ID"], "3");
      assert.deepEqual(client.data(), range(1, 7).map((i) => `m${i}`));
      assert.deepEqual(client.events.map((e) => e.lastEventId), range(1, 7).map(String));
      assert.equal(client.opens, 2);
      const m = await metrics(server.url);
      assert.equal(m.get("ssehub_resumes_total"), 1, "the restarted server saw one resume");
    } finally {
      client.close();
    }
  });
});

describe("resume beyond retained history (--history-max-events 3)", () => {
  let server;
  before(async () => {
    server = await startServer(["--history-max-events", "3"]);
  });
  after(() => server?.dispose());

  const streamUrl = (user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

  it("ResumeFromTrimmedIdSendsResetFirstThenTheRetainedEvents", T, async () => {
    const user = uniqueUser("trim");
    for (let i = 1; i <= 6; i++) await publishOk(server.url, user, `m${i}`);
    const before = await metrics(server.url);
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "1" } });
    try {
      await stream.waitEvents(3);
      assert.deepEqual(stream.events.map((e) => e.type), ["reset", "message", "message", "message"]);
      const reset = JSON.parse(stream.events[0].data);
      assert.equal(typeof reset.reason, "string");
      assert.ok(reset.reason.length > 0);
      assert.deepEqual(stream.ids(), [4, 5, 6]);
      assert.deepEqual(stream.data(), ["m4", "m5", "m6"]);
      await publishOk(server.url, user, "m7");
      await stream.waitEvents(4);
      assert.deepEqual(stream.ids(), [4, 5, 6, 7]);
      const m = await metricsEventually(server.url,
        (m) => m.get("ssehub_resets_total") === before.get("ssehub_resets_total") + 1, { what: "reset counted" });
      assert.equal(m.get("ssehub_resumes_total") - before.get("ssehub_resumes_total"), 1);
    } finally {
      stream.close();
    }
  });

  it("EventSourceGetsTheResetEventBeforeTheRetainedMessages", T, async () => {
    const user = uniqueUser("trim-es");
    for (let i = 1; i <= 6; i++) await publishOk(server.url, user, `m${i}`);
    const client = eventSource(streamUrl(user), { headers: { "Last-Event-ID": "1" }, types: ["reset"] });
    try {
      await client.waitEvents(3);
      assert.deepEqual(client.events.map((e) => e.type), ["reset", "message", "message", "message"]);
      assert.ok(JSON.parse(client.events[0].data).reason);
      assert.deepEqual(client.data(), ["m4", "m5", "m6"]);
    } finally {
      client.close();
    }
  });

  it("EarliestAfterTrimmingReplaysTheRetainedEventsWithoutReset", T, async () => {
    const user = uniqueUser("trim-earliest");
    for (let i = 1; i <= 6; i++) await publishOk(server.url, user, `m${i}`);
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "earliest" } });
    try {
      await stream.waitEvents(3);
      assert.deepEqual(stream.events.map((e) => [e.type, e.idField]),
                       [["message", "4"], ["message", "5"], ["message", "6"]]);
    } finally {
      stream.close();
    }
  });
});

describe("history in memory (--history-store memory)", () => {
  let server;
  before(async () => {
    server = await startServer(["--history-store", "memory", "--history-max-events", "3"]);
  });
  after(() => server?.dispose());

  const streamUrl = (user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

  it("EveryTabGetsEachEventAndAResumeReplaysWhatItMissedWithoutTouchingTheDisk", T, async () => {
    const user = uniqueUser("mem");
    const tabs = [await sse(streamUrl(user)), eventSource(streamUrl(user))];
    try {
      await tabs[1].waitFor((c) => c.opens === 1, { what: "EventSource open" });
      for (let i = 1; i <= 5; i++) assert.equal(await publishOk(server.url, user, `m${i}`), i);
      for (const tab of tabs) await tab.waitEvents(5);
      assert.deepEqual(tabs[0].ids(), range(1, 5));
      assert.deepEqual(tabs[1].data(), range(1, 5).map((i) => `m${i}`));

      const resumed = await sse(streamUrl(user), { headers: { "Last-Event-ID": "3" } });
      const trimmed = await sse(streamUrl(user), { headers: { "Last-Event-ID": "1" } });
      try {
        await resumed.waitEvents(2);
        assert.deepEqual(resumed.data(), ["m4", "m5"]);
        assert.equal(resumed.data("reset").length, 0);
        // Three events kept per user: a resume from before them is told so, then gets them.
        await trimmed.waitEvents(3);
        assert.deepEqual(trimmed.events.map((e) => e.type), ["reset", "message", "message", "message"]);
        assert.equal(JSON.parse(trimmed.data("reset")[0]).reason, "history_trimmed");
        assert.deepEqual(trimmed.ids(), [3, 4, 5]);
      } finally {
        resumed.close();
        trimmed.close();
      }
      const m = await metrics(server.url);
      assert.ok(m.get("ssehub_history_memory_bytes") > 0, "the memory gauge moves");
      assert.equal((await request(`${server.url}/readyz`)).status, 200);
      assert.deepEqual(await fs.readdir(server.dataDir).then((files) => files.filter((f) => f.startsWith("history"))), [],
                       "no history database in the data dir");
    } finally {
      for (const tab of tabs) tab.close();
    }
  });

  it("AfterARestartHistoryIsGoneAndAResumeIsToldSo", T, async () => {
    const user = uniqueUser("mem-restart");
    for (let i = 1; i <= 2; i++) assert.equal(await publishOk(server.url, user, `m${i}`), i);
    await server.restart();
    const stream = await sse(streamUrl(user), { headers: { "Last-Event-ID": "2" } });
    try {
      await stream.waitEvents(1, { type: "reset" });
      const reset = JSON.parse(stream.data("reset")[0]);
      assert.equal(reset.reason, "unknown_id");
      assert.equal(reset.continuesAfter, "0");
      // Ids start over, and the client (moved to 0 by the reset) gets the new events.
      assert.equal(await publishOk(server.url, user, "after"), 1);
      await stream.waitEvents(1);
      assert.deepEqual(stream.data(), ["after"]);
    } finally {
      stream.close();
    }
  });
});
