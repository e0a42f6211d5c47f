// Chaos: `kill -9` of ssehub while publishers and subscribers are busy, then a restart on the
// same data directory. Every acknowledged event must reach every subscriber exactly once and
// in order, across the crash, whether it resumes by hand (Last-Event-ID) or is the npm
// EventSource reconnecting by itself.

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Ledger, ResumingSubscriber, auditSubscriber, eventSource, httpPublish, keepAliveAgent, publishOk,
  range, showServerLogsOnFailure, sleep, startPublishers, startServer, uniqueUser,
} from "./lib/chaos.mjs";

showServerLogsOnFailure();

describe("kill -9 under publish load", () => {
  let server;
  const closers = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await server?.dispose();
  });

  it("EveryAcknowledgedEventReachesEveryResumingSubscriberExactlyOnceInOrderAcrossKill9", { timeout: 60_000 }, async () => {
    server = await startServer();
    const users = [1, 2, 3].map(() => uniqueUser("k9"));
    const streamUrl = (user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

    // Per user: two subscribers that resume by hand, one EventSource that reconnects itself.
    const subscribers = [];
    const browsers = [];
    for (const user of users) {
      for (let i = 0; i < 2; i++) {
        const sub = await new ResumingSubscriber(() => streamUrl(user), { from: 0, name: `${user}/sub${i}` }).start();
        closers.push(() => sub.close());
        subscribers.push({ user, sub });
      }
      const es = eventSource(streamUrl(user));
      closers.push(() => es.close());
      browsers.push({ user, es });
    }
    for (const { es } of browsers) await es.waitFor((c) => c.opens === 1, { what: "open" });

    const ledger = new Ledger();
    const agent = keepAliveAgent(8);
    closers.push(() => agent.destroy());
    const publishers = startPublishers({ users, workers: 6, ledger, send: httpPublish(() => server.url, { agent }) });
    closers.push(() => publishers.stop());

    // Three crashes in the middle of the load: requests are in flight and commits in progress.
    const CRASHES = 3;
    for (let crash = 1; crash <= CRASHES; crash++) {
      // Every client is back on the stream since the last crash, so each crash cuts each of
      // them (else a client still waiting to retry would sleep through two crashes in one).
      for (const { sub } of subscribers) await sub.waitFor((s) => s.connections >= crash, { what: `connection ${crash}` });
      for (const { es } of browsers) await es.waitFor((c) => c.opens >= crash, { what: `open ${crash}` });
      const before = ledger.totalAcked();
      const deadline = Date.now() + 10_000;
      while (ledger.totalAcked() < before + 400 && Date.now() < deadline) await sleep(20);
      assert.ok(ledger.totalAcked() >= before + 50, `crash ${crash}: only ${ledger.totalAcked() - before} publishes acknowledged`);
      const status = await server.kill9();
      assert.equal(status.signal, "SIGKILL");
      await sleep(200 * crash); // publishers and subscribers meet a closed port for a while
      await server.start();
    }

    // The load goes on after the last restart, then stops; a marker per user closes every
    // stream's record: once a subscriber has it, it has everything before it too.
    const ackedAtRestart = ledger.totalAcked();
    const resumeDeadline = Date.now() + 10_000;
    while (ledger.totalAcked() < ackedAtRestart + 300 && Date.now() < resumeDeadline) await sleep(20);
    await publishers.stop();
    agent.destroy();
    assert.ok(ledger.totalAcked() > ackedAtRestart, "no publish was acknowledged after the restart");
    const markers = new Map();
    for (const user of users) {
      const body = `marker for ${user}`;
      ledger.noteSent(user, body);
      const id = await publishOk(server.url, user, body);
      ledger.noteAck(user, id, body);
      markers.set(user, id);
    }

    const problems = [];
    for (const { user, sub } of subscribers) {
      await sub.waitId(markers.get(user), { timeout: 15_000 });
      assert.ok(sub.connections > CRASHES, `${sub.name} never lost its stream (${sub.connections} connections)`);
      problems.push(...auditSubscriber(sub, { user, ledger }));
      // History has no holes: ids are contiguous up to the marker, acknowledged or not.
      assert.deepEqual(sub.ids(), range(1, markers.get(user)), `${sub.name}: ids are not 1..marker`);
    }
    for (const { user, es } of browsers) {
      await es.waitFor((c) => c.events.some((e) => Number(e.lastEventId) === markers.get(user)),
                       { timeout: 20_000, what: `marker ${markers.get(user)}` });
      const asSubscriber = {
        name: `${user}/EventSource`,
        events: es.events.map((e) => ({ id: Number(e.lastEventId), data: e.data, type: e.type, conn: "es" })),
      };
      problems.push(...auditSubscriber(asSubscriber, { user, ledger }));
      assert.ok(es.opens > CRASHES, `${user}/EventSource did not reconnect (${es.opens} opens)`);
    }
    const outcome = `${ledger.totalAcked()} acknowledged; publish outcomes ${JSON.stringify(ledger.summary())}`;
    assert.deepEqual(problems, [], outcome);
    console.log(`kill -9 x${CRASHES}: ${outcome}`);
  });
});
