// --cpu-affinity and the default number of I/O threads, read from what the kernel says about
// each thread of the running process (/proc/<pid>/task/*/status).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import { FAST_ARGS, request, showServerLogsOnFailure, startServer } from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CPUS = os.availableParallelism(); // this process's affinity mask, as ssehub reads its own
const TWO_CPUS = { ...T, skip: CPUS >= 2 ? false : "needs 2 CPUs" };
const WITHOUT_THREADS = FAST_ARGS.filter(
  (arg, i) => arg !== "--threads" && FAST_ARGS[i - 1] !== "--threads");

/** Every thread of `pid` as {name, cpus}, cpus being the kernel's Cpus_allowed_list ("0-1"). */
async function threadsOf(pid) {
  const dir = `/proc/${pid}/task`;
  return Promise.all((await fs.readdir(dir)).map(async (tid) => {
    const status = await fs.readFile(`${dir}/${tid}/status`, "utf8");
    return {
      name: status.match(/^Name:\s*(.*)$/m)[1],
      cpus: status.match(/^Cpus_allowed_list:\s*(.*)$/m)[1],
    };
  }));
}

async function processCpus(pid) {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  return status.match(/^Cpus_allowed_list:\s*(.*)$/m)[1];
}

const ioThreads = (threads) => threads.filter((t) => /^ssehub-io-\d+$/.test(t.name));
const isOneCpu = (list) => /^\d+$/.test(list);

describe("cpu affinity of the I/O threads", () => {
  it("LeavesEveryThreadToTheKernelByDefault", T, async () => {
    const server = await startServer([]);
    const all = await threadsOf(server.proc.pid);
    const mask = await processCpus(server.proc.pid);
    assert.equal(ioThreads(all).length, 2);
    for (const t of all) {
      assert.equal(t.cpus, mask, `${t.name} runs on ${t.cpus}, the process on ${mask}`);
    }
    assert.equal(server.logMatching(/I\/O threads on CPUs/).length, 0);
    await server.dispose();
  });

  it("AutoKeepsEachIoThreadOnACpuOfItsOwnAndNoOtherThread", TWO_CPUS, async () => {
    const server = await startServer(["--cpu-affinity", "auto"]);
    const all = await threadsOf(server.proc.pid);
    const mask = await processCpus(server.proc.pid);
    const io = ioThreads(all);
    assert.equal(io.length, 2);
    for (const t of io) assert.ok(isOneCpu(t.cpus), `${t.name} may run on ${t.cpus}`);
    assert.notEqual(io[0].cpus, io[1].cpus, "both I/O threads on one CPU");
    // History's, the store's and the main thread stay free to run wherever there is room.
    for (const t of all.filter((t) => !io.includes(t))) {
      assert.equal(t.cpus, mask, `${t.name} was pinned`);
    }
    assert.equal(server.logMatching(/listening on .*\(2 I\/O threads on CPUs \d+,\d+,/).length, 1);
    const health = await request(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    await server.dispose();
  });

  it("StartsOneIoThreadPerCpuOfItsMaskNotOfTheMachine", T, async () => {
    // taskset stands for a container's cpuset: the machine has more CPUs than ssehub may use.
    const cpu = String(CPUS - 1);
    const server = await startServer(["--cpu-affinity", "auto"], {
      baseArgs: WITHOUT_THREADS,
      launcher: ["taskset", "-c", cpu],
    });
    const io = ioThreads(await threadsOf(server.proc.pid));
    assert.deepEqual(io.map((t) => [t.name, t.cpus]), [["ssehub-io-0", cpu]]);
    assert.equal(server.logMatching(new RegExp(`\\(1 I/O threads on CPUs ${cpu},`)).length, 1);
    const health = await request(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    await server.dispose();
  });

  it("PinsNoThreadWhenTheyOutnumberTheCpus", T, async () => {
    const threads = CPUS + 1;
    const server = await startServer(["--cpu-affinity", "auto", "--threads", String(threads)], {
      baseArgs: WITHOUT_THREADS,
    });
    const mask = await processCpus(server.proc.pid);
    const io = ioThreads(await threadsOf(server.proc.pid));
    assert.equal(io.length, threads);
    for (const t of io) assert.equal(t.cpus, mask, `${t.name} was pinned to ${t.cpus}`);
    assert.equal(server.logMatching(/I\/O threads on CPUs/).length, 0);
    await server.dispose();
  });

  it("RefusesAnAffinityItDoesNotKnow", T, async () => {
    await assert.rejects(startServer(["--cpu-affinity", "0,1"]), /exited at start/);
  });
});
