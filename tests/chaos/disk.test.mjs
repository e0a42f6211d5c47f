// Chaos: the disk under ssehub's data directory fills up or turns read-only while publishers
// and subscribers are busy. Publishes must get a 503 JSON answer (never a hang, never a 204
// that is not durable), /readyz must say so, and once the disk is back the service resumes
// with every acknowledged event still there and delivered exactly once.
//
// The data directory is a small tmpfs (root only). A disk full is real: a filler file takes
// every free byte. A read-only disk is injected by tests/chaos/fault_fs.c (LD_PRELOAD): the
// kernel refuses `mount -o remount,ro` while SQLite holds files open for writing, so the real
// remount is used only for a server started on an already read-only directory.

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  FaultSwitch, Ledger, ResumingSubscriber, SmallDisk, auditSubscriber, faultShim, httpPublish, isRoot,
  keepAliveAgent, publish, publishOk, range, readyz, readyzBecomes, showServerLogsOnFailure, sleep, sse,
  startPublishers, startServer, uniqueUser, withEnv,
} from "./lib/chaos.mjs";

showServerLogsOnFailure();
const ROOT_ONLY = isRoot ? false : "needs root (mount -t tmpfs)";
const T = { timeout: 60_000, skip: ROOT_ONLY };

const streamUrl = (server, user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

/** Waits until `predicate()` holds, polling every 20 ms; fails with `what` after `timeout`. */
async function until(predicate, timeout, what) {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Load, fault, recovery, audit. `inject()` breaks the disk, `heal()` repairs it; `detail`
 * matches the 503's `detail`.
 */
async function faultUnderLoad({ server, inject, heal, detail }) {
  const users = [1, 2, 3].map(() => uniqueUser("disk"));
  const subscribers = [];
  const ledger = new Ledger();
  const agent = keepAliveAgent(8);
  // A request that gets no answer in 8 s counts as a hang (the server must answer at once).
  const publishers = startPublishers({ users, workers: 4, ledger, send: httpPublish(() => server.url, { agent, timeout: 8_000 }) });
  try {
    for (const user of users) {
      for (let i = 0; i < 2; i++) {
        subscribers.push({ user, sub: await new ResumingSubscriber(() => streamUrl(server, user), { from: 0, name: `${user}/sub${i}` }).start() });
      }
    }
    await until(() => ledger.totalAcked() >= 200, 10_000, "200 acknowledged publishes before the fault");

    await inject();
    const refusedAtFault = ledger.countOf("503");
    await until(() => ledger.countOf("503") >= refusedAtFault + 20, 10_000, "publishes refused with 503 after the fault");
    const ready = await readyzBecomes(server, 503, { timeout: 5_000 });
    assert.equal(ready.checks?.history, "unavailable", `/readyz during the fault: ${JSON.stringify(ready)}`);
    const sample = JSON.parse(ledger.samples.get("503"));
    assert.equal(sample.error, "store_unavailable", JSON.stringify(sample));
    assert.match(sample.detail, detail);
    await sleep(1_000); // the fault lasts a while under load
    const ackedDuringFault = ledger.totalAcked();

    await heal();
    await until(() => ledger.totalAcked() >= ackedDuringFault + 100, 10_000, "publishes acknowledged again after the repair");
    await readyzBecomes(server, 200, { timeout: 5_000 });
  } finally {
    await publishers.stop();
    agent.destroy();
  }

  const outcomes = JSON.stringify(ledger.summary());
  for (const kind of ledger.statuses.keys()) {
    assert.ok(kind === "204" || kind === "503", `a publish ended in ${kind} (never a hang or a dropped connection): ${outcomes}`);
  }
  const markers = new Map();
  for (const user of users) {
    const body = `marker for ${user}`;
    ledger.noteSent(user, body);
    markers.set(user, await publishOk(server.url, user, body));
    ledger.noteAck(user, markers.get(user), body);
  }
  const problems = [];
  for (const { user, sub } of subscribers) {
    await sub.waitId(markers.get(user), { timeout: 10_000 });
    problems.push(...auditSubscriber(sub, { user, ledger, refusedNeverStored: true }));
    // A refused publish takes no id: the ids of history stay contiguous.
    assert.deepEqual(sub.ids(), range(1, markers.get(user)), `${sub.name}: ids are not 1..marker`);
    await sub.close();
  }
  assert.deepEqual(problems, [], outcomes);

  // Durable, not just delivered: after a crash, history still holds every acknowledged event.
  await server.kill9();
  await server.start();
  for (const user of users) {
    const replay = await sse(streamUrl(server, user), { headers: { "Last-Event-ID": "earliest" } });
    try {
      await replay.waitId(markers.get(user), { timeout: 10_000 });
      const stored = new Map(replay.events.map((e) => [Number(e.idField), e.data]));
      for (const [id, body] of ledger.acked.get(user)) assert.equal(stored.get(id), body, `acknowledged id ${id} after kill -9`);
      for (const body of ledger.refused.get(user) ?? []) assert.ok(![...stored.values()].includes(body), `refused ${body} is in history`);
    } finally {
      replay.close();
    }
  }
  return ledger;
}

describe("disk faults under load", () => {
  let server;
  let disk;
  afterEach(async () => {
    await server?.dispose();
    server = null;
    await disk?.unmount();
    disk = null;
  });

  // With --history-sync full the syncer thread writes the journal, so a refused write is
  // found there, after the events were numbered: the same promises must hold.
  for (const [mode, syncArgs] of [["", []], [", fdatasync before each answer", ["--history-sync", "full"]]]) {
    it(`DiskFullUnderLoadAnswers503ThenResumesAndNoAcknowledgedEventIsLost${mode}`, T, async () => {
      disk = await SmallDisk.mount(16);
      server = await startServer(["--data-dir", disk.dir, "--history-max-events", "100000", ...syncArgs]);
      const ledger = await faultUnderLoad({
        server,
        inject: () => disk.fill(),
        heal: () => disk.unfill(),
        detail: /disk is full/,
      });
      console.log(`disk full${mode}: ${ledger.totalAcked()} acknowledged; publish outcomes ${JSON.stringify(ledger.summary())}`);
    });

    it(`ReadOnlyDiskUnderLoadAnswers503ThenResumesAndNoAcknowledgedEventIsLost${mode}`, T, async (t) => {
      const shim = await faultShim();
      if (!shim) return t.skip("no C compiler for the fault shim");
      disk = await SmallDisk.mount(16);
      const fault = new FaultSwitch(disk.dir);
      server = await withEnv(fault.env(shim), () =>
        startServer(["--data-dir", disk.dir, "--history-max-events", "100000", ...syncArgs]));
      const ledger = await withEnv(fault.env(shim), () => faultUnderLoad({
        server,
        inject: () => fault.set("EROFS"),
        heal: () => fault.set(null),
        detail: /I\/O error|read-?only/i,
      }));
      console.log(`read-only${mode}: ${ledger.totalAcked()} acknowledged; publish outcomes ${JSON.stringify(ledger.summary())}`);
    });
  }

  // A node taken out of rotation because /readyz said 503 gets no publishes; if only a
  // successful publish can make it ready again, it never comes back.
  it("ReadinessRecoversWhenTheDiskIsBackWithoutWaitingForAPublish", T, async () => {
    disk = await SmallDisk.mount(16);
    server = await startServer(["--data-dir", disk.dir]);
    const user = uniqueUser("ready");
    for (let i = 0; i < 5; i++) await publishOk(server.url, user, `before ${i}`);
    await disk.fill();
    // The journal's mapped window was allocated before the disk filled (up to 4 MiB), and
    // publishes use it up before one is refused.
    let refused = null;
    for (let i = 0; i < 20_000 && !refused; i++) {
      const res = await publish(server.url, user, `while full ${i} ${"x".repeat(500)}`);
      if (res.status === 503) refused = res;
    }
    assert.ok(refused, "no publish was refused on a full disk");
    await readyzBecomes(server, 503, { timeout: 5_000 });
    await disk.unfill();
    const deadline = Date.now() + 8_000;
    let last;
    while (Date.now() < deadline) {
      last = await readyz(server);
      if (last.status === 200) break;
      await sleep(200);
    }
    assert.equal(last.status, 200, `/readyz 8 s after the disk was freed, with no publish meanwhile: ${JSON.stringify(last.json)}`);
  });

  // The kernel lets a file system be remounted read-only only while nothing writes to it:
  // here ssehub meets a data directory that is read-only from the start.
  it("StartOnReadOnlyDataDirIsRefusedOrDegradedAndLosesNothingOnceWritable", T, async () => {
    disk = await SmallDisk.mount(16);
    server = await startServer(["--data-dir", disk.dir]);
    const user = uniqueUser("ro-start");
    const acked = [];
    for (let i = 1; i <= 30; i++) acked.push(await publishOk(server.url, user, `m${i}`));
    await server.kill9();
    await disk.remount("ro");

    let started = true;
    try {
      await server.start();
    } catch (e) {
      started = false;
      assert.match(e.message, /ssehub exited at start/);
      assert.ok(server.logMatching(/cannot start.*read-?only|read-?only.*database/i).length > 0,
                "ssehub exited without saying the data directory is read-only");
    }
    if (started) {
      // Degraded: readers are served from history, writers are told to come back later.
      const res = await publish(server.url, user, "on a read-only disk");
      assert.equal(res.status, 503, res.body);
      assert.equal((await readyz(server)).status, 503);
      await server.stop("SIGKILL");
    }

    await disk.remount("rw");
    await server.start();
    assert.equal(await publishOk(server.url, user, "writable again"), acked.length + 1);
    const replay = await sse(streamUrl(server, user), { headers: { "Last-Event-ID": "0" } });
    try {
      await replay.waitEvents(acked.length + 1);
      assert.deepEqual(replay.ids(), range(1, acked.length + 1));
    } finally {
      replay.close();
    }
  });
});
