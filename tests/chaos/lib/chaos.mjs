// Helpers of the chaos tests: load that keeps running while something breaks, subscribers that
// resume by id the way a browser does, the ledger that says what every client must have seen,
// and the faults themselves (a small tmpfs, a read-only switch, private Kafka and dynalite).
//
// Everything that starts a process or mounts a file system undoes it when the test process
// exits, even after a failed assertion.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, eventually, freePort, readyz, request, run, sleep, sse, within } from "../../integration/lib/server.mjs";

export * from "../../integration/lib/server.mjs";
// A dynalite of the test's own (a store outage is stopping it), and the calls the tests make on it.
export { PrivateDynalite, createReportTable, scanAll } from "../../integration/lib/dynamodb.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const cleanups = []; // run in reverse at exit; each must be synchronous
process.on("exit", () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {}
  }
});

export const isRoot = process.getuid?.() === 0;

async function runOk(command, args, options) {
  const res = await run(command, args, options);
  if (res.code !== 0) throw new Error(`${command} ${args.join(" ")} failed (${res.code}): ${res.stdout}${res.stderr}`);
  return res;
}

/** Waits until /readyz answers `status` (200 or 503); returns its body. */
export function readyzBecomes(server, status, { timeout = 20_000 } = {}) {
  return eventually(async () => {
    const res = await readyz(server);
    return res.status === status ? res.json ?? {} : false;
  }, { timeout, interval: 100, what: `${server.url}/readyz to answer ${status}` });
}

// ---------------------------------------------------------------------------------------------
// Load: publishers that never stop on their own, and what they were told

/**
 * What publishers sent and what ssehub acknowledged, per stream. A body is unique in a run, so
 * an event a client receives is matched to its publish by the body alone.
 */
export class Ledger {
  constructor() {
    this.acked = new Map(); // user -> Map(id -> body), 204 (or 201/200) with an id
    this.sent = new Map(); // user -> Set(body), every attempt
    this.refused = new Map(); // user -> Set(body), answered with an error status
    this.statuses = new Map(); // status (or error kind) -> count
    this.samples = new Map(); // status -> first response body with it
  }

  noteSent(user, body) {
    if (!this.sent.has(user)) this.sent.set(user, new Set());
    this.sent.get(user).add(body);
  }

  noteAck(user, id, body) {
    if (!this.acked.has(user)) this.acked.set(user, new Map());
    const ids = this.acked.get(user);
    if (ids.has(id)) throw new Error(`user ${user}: id ${id} acknowledged twice (${ids.get(id)} and ${body})`);
    ids.set(id, body);
  }

  noteRefused(user, body) {
    if (!this.refused.has(user)) this.refused.set(user, new Set());
    this.refused.get(user).add(body);
  }

  count(kind, body) {
    this.statuses.set(kind, (this.statuses.get(kind) ?? 0) + 1);
    if (body !== undefined && !this.samples.has(kind)) this.samples.set(kind, body);
  }

  countOf(kind) {
    return this.statuses.get(kind) ?? 0;
  }

  ackedIds(user) {
    return [...(this.acked.get(user)?.keys() ?? [])].sort((a, b) => a - b);
  }

  totalAcked() {
    let n = 0;
    for (const ids of this.acked.values()) n += ids.size;
    return n;
  }

  summary() {
    return Object.fromEntries([...this.statuses.entries()].sort());
  }
}

/**
 * Publishes to `users` from `workers` concurrent loops until stop(); each loop takes the next
 * user in turn. `send(user, body)` resolves {status, id} or throws (no answer). Statuses and
 * acknowledgements go to `ledger`. Connection failures back off `pauseOnError` ms.
 */
export function startPublishers({ users, workers = 2, ledger, send, tag = "p", pauseOnError = 50, okStatus = 204,
                                  interval = 0 }) {
  let stopped = false;
  let seq = 0;
  const loops = [];
  for (let w = 0; w < workers; w++) {
    loops.push((async () => {
      for (let i = 0; !stopped; i++) {
        const user = users[(w + i) % users.length];
        const body = `${tag}${w}-${++seq} for ${user}`;
        ledger.noteSent(user, body);
        try {
          const res = await send(user, body);
          ledger.count(String(res.status), res.body);
          if (res.status === okStatus && Number.isFinite(res.id)) ledger.noteAck(user, res.id, body);
          else ledger.noteRefused(user, body);
          if (res.status !== okStatus) await sleep(pauseOnError);
        } catch (e) {
          ledger.count(e.code ?? "no-answer");
          await sleep(pauseOnError);
        }
        if (interval > 0) await sleep(interval);
      }
    })());
  }
  return {
    get sent() {
      return seq;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** `send` of startPublishers for POST /<api>/message of ssehub at `url()`. */
export function httpPublish(url, { api = "v2", timeout = 20_000, agent } = {}) {
  return async (user, body) => {
    const res = await request(`${url()}/${api}/message?username=${encodeURIComponent(user)}`, {
      method: "POST",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body,
      timeout,
      agent,
    });
    return { status: res.status, id: Number(res.headers["x-event-id"]), json: res.json, body: res.body };
  };
}

// ---------------------------------------------------------------------------------------------
// Subscribers

/**
 * A subscriber that keeps one stream open and, whenever it ends, opens it again with
 * Last-Event-ID = the last id it received (what EventSource does), until close(). `events`
 * holds everything received over all its connections, in arrival order, each with its arrival
 * time (`at`, ms since the epoch).
 */
export class ResumingSubscriber {
  constructor(url, { from, retryMs = 100, name = "subscriber" } = {}) {
    this.url = url; // () => string
    this.lastId = from; // undefined: start live without Last-Event-ID
    this.startedFrom = from;
    this.retryMs = retryMs;
    this.name = name;
    this.events = []; // {type, id, data, conn}
    this.connections = 0;
    this.failedConnects = 0;
    this.statuses = [];
    this.closed = false;
    this.client = null;
    this.loop = null;
    this._waiters = [];
  }

  /** Opens the first stream (resolves once its head arrived), then keeps resuming. */
  async start() {
    await this._connect();
    this.loop = this._run();
    return this;
  }

  async _connect() {
    const headers = this.lastId === undefined ? {} : { "Last-Event-ID": String(this.lastId) };
    const client = await sse(this.url(), { headers, timeout: 5_000 });
    this.statuses.push(client.status);
    if (client.status !== 200) {
      throw Object.assign(new Error(`${this.name}: stream answered ${client.status}: ${client.body}`),
                          { status: client.status });
    }
    const conn = ++this.connections;
    let seen = 0;
    client.parser.listeners.push(() => {
      const events = client.events;
      for (; seen < events.length; seen++) {
        const e = events[seen];
        const id = e.idField === undefined ? undefined : Number(e.idField);
        this.events.push({ type: e.type, id, data: e.data, conn, at: Date.now() });
        if (id !== undefined) this.lastId = id;
      }
      for (const waiter of [...this._waiters]) waiter();
    });
    this.client = client;
    return client;
  }

  async _run() {
    while (!this.closed) {
      await this.client.waitEnd({ timeout: 86_400_000 }).catch(() => {});
      while (!this.closed) {
        await sleep(this.retryMs);
        if (this.closed) break;
        try {
          await this._connect();
          break;
        } catch {
          this.failedConnects++;
        }
      }
    }
  }

  /** Drops the current connection as a client going away would; it resumes by itself. */
  drop() {
    this.client?.close();
  }

  ids(type) {
    return this.events.filter((e) => e.id !== undefined && (type === undefined || e.type === type)).map((e) => e.id);
  }

  /** Resolves once `predicate(this)` holds; rejects after `timeout`. */
  waitFor(predicate, { timeout = 10_000, what = "condition" } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this._waiters = this._waiters.filter((w) => w !== check);
        resolve(this);
      };
      const timer = setTimeout(() => {
        this._waiters = this._waiters.filter((w) => w !== check);
        const tail = this.events.slice(-8).map((e) => `${e.id}:${e.type}`).join(", ");
        reject(new Error(`${this.name}: timed out after ${timeout} ms waiting for ${what}; ` +
                         `${this.events.length} events over ${this.connections} connections, last: [${tail}]`));
      }, timeout);
      this._waiters.push(check);
      check();
    });
  }

  waitId(id, options = {}) {
    return this.waitFor((s) => s.lastId !== undefined && s.lastId >= id, { what: `id ${id}`, ...options });
  }

  async close() {
    this.closed = true;
    this.client?.close();
    await this.loop;
  }
}

/**
 * Checks what one subscriber received against the ledger: ids strictly increasing (so no
 * duplicate and no reordering, across every resume), every acknowledged id above `after` and
 * up to `through` present with its body, and nothing that was never sent (nor, with
 * `refusedNeverStored`, anything whose publish got an error answer). Returns a list of
 * problems (empty when all is well).
 */
export function auditSubscriber(sub, { user, ledger, after = 0, through = Infinity, type, refusedNeverStored = false }) {
  const problems = [];
  const received = sub.events.filter((e) => e.id !== undefined && (type === undefined || e.type === type));
  for (let i = 1; i < received.length; i++) {
    if (received[i].id <= received[i - 1].id) {
      problems.push(`${sub.name}: id ${received[i].id} after ${received[i - 1].id} ` +
                    `(connection ${received[i - 1].conn} -> ${received[i].conn}): duplicate or out of order`);
    }
  }
  const byId = new Map(received.map((e) => [e.id, e.data]));
  const acked = ledger.acked.get(user) ?? new Map();
  let missing = 0;
  for (const [id, body] of acked) {
    if (id <= after || id > through) continue;
    if (!byId.has(id)) {
      if (++missing <= 5) problems.push(`${sub.name}: acknowledged id ${id} (${body}) never arrived`);
    } else if (byId.get(id) !== body) {
      problems.push(`${sub.name}: id ${id} carried ${JSON.stringify(byId.get(id))}, acknowledged as ${JSON.stringify(body)}`);
    }
  }
  if (missing > 5) problems.push(`${sub.name}: ... ${missing} acknowledged ids missing in all`);
  const sent = ledger.sent.get(user) ?? new Set();
  for (const e of received) {
    if (!sent.has(e.data)) problems.push(`${sub.name}: id ${e.id} carried ${JSON.stringify(e.data)}, which nobody sent`);
  }
  // An error answer must mean "not stored": a client retries it, and would otherwise see it twice.
  const refused = ledger.refused.get(user) ?? new Set();
  if (refusedNeverStored) {
    for (const e of received) {
      if (refused.has(e.data)) problems.push(`${sub.name}: id ${e.id} carried ${JSON.stringify(e.data)}, whose publish was refused`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Disk faults

/**
 * A tmpfs of `sizeMb` mounted on a fresh directory (root only). fill() takes every free byte
 * with a filler file, unfill() removes it; readOnly(true) makes ssehub's writes fail with
 * EROFS through the fault shim (see fault_fs.c: the kernel refuses `remount,ro` while a
 * process holds files open for writing, as SQLite does).
 */
export class SmallDisk {
  constructor(dir) {
    this.dir = dir;
    this.filler = path.join(dir, "filler");
  }

  static async mount(sizeMb) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ssehub-chaos-disk-"));
    await runOk("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m`, "tmpfs", dir]);
    const disk = new SmallDisk(dir);
    disk.cleanup = () => {
      spawnSync("umount", ["-l", dir]);
      rmSync(dir, { recursive: true, force: true });
    };
    cleanups.push(disk.cleanup);
    return disk;
  }

  async freeBytes() {
    const stat = await fs.statfs(this.dir);
    return stat.bavail * stat.bsize;
  }

  /** Fills the disk to the last byte (dd stops at ENOSPC). */
  async fill() {
    await run("dd", ["if=/dev/zero", `of=${this.filler}`, "bs=64k"], { timeout: 30_000 });
    const free = await this.freeBytes();
    if (free !== 0) throw new Error(`disk ${this.dir} still has ${free} bytes free after filling`);
  }

  async unfill() {
    await fs.rm(this.filler, { force: true });
  }

  async remount(mode) {
    await runOk("mount", ["-o", `remount,${mode}`, this.dir]);
  }

  async unmount() {
    await run("umount", [this.dir]);
    await fs.rm(this.dir, { recursive: true, force: true });
    const i = cleanups.indexOf(this.cleanup);
    if (i >= 0) cleanups.splice(i, 1);
  }
}

/**
 * Builds tests/chaos/fault_fs.c into an LD_PRELOAD library (once per run). Resolves its path,
 * or null when no C compiler is there.
 */
let shimPromise = null;
export function faultShim() {
  shimPromise ??= (async () => {
    const cc = ["cc", "gcc", "clang"].find((c) => spawnSync(c, ["--version"]).status === 0);
    if (!cc) return null;
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), "ssehub-chaos-shim-")), "fault_fs.so");
    cleanups.push(() => rmSync(path.dirname(out), { recursive: true, force: true }));
    await runOk(cc, ["-shared", "-fPIC", "-O2", "-Wall", "-o", out, path.join(HERE, "..", "fault_fs.c"), "-ldl"]);
    return out;
  })();
  return shimPromise;
}

/**
 * Switch of the fault shim for one directory: set("EROFS") makes every write under `dir` fail
 * with that errno until set(null).
 */
export class FaultSwitch {
  constructor(dir) {
    this.dir = dir;
    this.control = path.join(mkdtempSync(path.join(os.tmpdir(), "ssehub-chaos-fault-")), "fault");
    cleanups.push(() => rmSync(path.dirname(this.control), { recursive: true, force: true }));
  }

  /** Environment that makes a process started with it obey this switch. */
  env(shim) {
    return { LD_PRELOAD: shim, SSEHUB_FAULT_DIR: this.dir, SSEHUB_FAULT_CONTROL: this.control };
  }

  async set(errno) {
    if (errno) await fs.writeFile(this.control, errno);
    else await fs.rm(this.control, { force: true });
  }
}

/**
 * Runs `fn` with `vars` in process.env, so that children spawned meanwhile (the server)
 * inherit them; restores the environment afterwards.
 */
export async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A Kafka broker of the chaos suite's own (scripts/kafka on another port and data dir), so
// stopping it disturbs no other suite sharing the machine's default broker.

export class PrivateKafka {
  constructor({ port = Number(process.env.CHAOS_KAFKA_PORT ?? 19092),
                dataDir = process.env.CHAOS_KAFKA_DATA_DIR ?? "/tmp/ssehub-chaos-kafka" } = {}) {
    this.port = port;
    this.dataDir = dataDir;
    this.env = { KAFKA_PORT: String(port), KAFKA_DATA_DIR: dataDir, KAFKA_NUM_PARTITIONS: "3" };
    this.script = path.join(ROOT, "scripts/kafka");
    cleanups.push(() => spawnSync(this.script, ["stop"], { env: { ...process.env, ...this.env }, timeout: 60_000 }));
  }

  get brokers() {
    return `127.0.0.1:${this.port}`;
  }

  async start({ fresh = false } = {}) {
    await runOk(this.script, fresh ? ["start", "--fresh"] : ["start"], { env: this.env, timeout: 300_000 });
  }

  async stop() {
    await runOk(this.script, ["stop"], { env: this.env, timeout: 60_000 });
  }

  /** kill -9 of the broker, no controlled shutdown; start() brings it back with its data. */
  async kill() {
    const pid = Number((await fs.readFile(path.join(this.dataDir, "kafka.pid"), "utf8")).trim());
    process.kill(pid, "SIGKILL");
    await eventually(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, { timeout: 10_000, interval: 50, what: `the broker (pid ${pid}) to exit` });
  }

  async running() {
    return (await run(this.script, ["status"], { env: this.env, timeout: 10_000 })).code === 0;
  }

  async reset() {
    await runOk(this.script, ["reset"], { env: this.env, timeout: 60_000 });
  }

  /** Every record of `topic` as {partition, offset, key, value}, read with kcat to the end. */
  async consumeAll(topic) {
    const res = await runOk("kcat", ["-C", "-b", this.brokers, "-t", topic, "-e", "-q", "-o", "beginning",
                                     "-f", "%p\\x1f%o\\x1f%k\\x1f%s\\x1e"], { timeout: 60_000 });
    return res.stdout.split("\x1e").filter((r) => r.length > 0).map((r) => {
      const [partition, offset, key, value] = r.split("\x1f");
      return { partition: Number(partition), offset: Number(offset), key, value };
    });
  }

  /** Waits until `topic` exists with partitions (a metadata request creates it). */
  async ensureTopic(topic) {
    await eventually(async () => {
      const res = await run("kcat", ["-b", this.brokers, "-L", "-t", topic, "-m", "5"], { timeout: 15_000 });
      return /with [1-9]\d* partitions/.test(res.stdout);
    }, { timeout: 30_000, interval: 200, what: `topic ${topic}` });
  }

  /**
   * A kcat producer that stays running; send(key, value) queues one record (kcat buffers and
   * retries while the broker is away); end() closes its input and resolves once kcat exits.
   */
  producer(topic) {
    const child = spawn("kcat", ["-P", "-E", "-b", this.brokers, "-t", topic, "-D", "\\x1e", "-K", "\\x1f",
                                 "-X", "linger.ms=5", "-X", "message.timeout.ms=120000"],
                        { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => (stderr += d));
    const exit = new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
    cleanups.push(() => child.kill("SIGKILL"));
    return {
      send(key, value) {
        child.stdin.write(`${key}\x1f${value}\x1e`);
      },
      async end({ timeout = 60_000 } = {}) {
        child.stdin.end();
        return within(timeout, exit, `kcat producer of ${topic} to deliver and exit`);
      },
      get stderr() {
        return stderr;
      },
    };
  }
}

/** A keep-alive agent for load loops (one TCP connection per concurrent request). */
/**
 * HAProxy from Debian (scripts/bootstrap installs it) in front of ssehub nodes, as an operator
 * would run it: round robin, health checks on /readyz every 250 ms, a request that finds a
 * node gone is sent to another, no response buffering (SSE passes through as it is written),
 * and its own 503 (no node ready) in JSON with Retry-After.
 */
export class HaProxy {
  constructor(nodes) {
    this.nodes = nodes;
    this.dir = mkdtempSync(path.join(os.tmpdir(), "ssehub-haproxy-"));
    this.child = null;
    this.output = "";
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    const servers = this.nodes.map((node, i) => `  server n${i} 127.0.0.1:${new URL(node.url).port} check`).join("\n");
    const config = `global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 120s
  timeout server 120s
  timeout http-request 10s
  retries 3
  option redispatch 1
  # Each SSE event goes out as it comes, not held back for more data (MSG_MORE).
  option http-no-delay
  # While no node is ready (the broker away takes them all out) the balancer answers itself,
  # in ssehub's words: JSON and Retry-After, so a publisher retries as it would anyway.
  errorfile 503 ${path.join(this.dir, "503.http")}
frontend cluster
  bind 127.0.0.1:${this.port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 250ms fall 2 rise 2
${servers}
`;
    await fs.writeFile(path.join(this.dir, "503.http"), [
      "HTTP/1.1 503 Service Unavailable", "Content-Type: application/json", "Retry-After: 1", "Cache-Control: no-store",
      "Connection: close", "", '{"error":"no_node_ready","detail":"no ssehub node behind the load balancer is ready"}', "",
    ].join("\r\n"));
    const file = path.join(this.dir, "haproxy.cfg");
    await fs.writeFile(file, config);
    const check = await run("haproxy", ["-c", "-f", file], { timeout: 10_000 });
    if (check.code !== 0) throw new Error(`haproxy -c: ${check.stdout}${check.stderr}`);
    this.child = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout.on("data", (d) => (this.output += d));
    this.child.stderr.on("data", (d) => (this.output += d));
    const child = this.child;
    cleanups.push(() => child.kill("SIGKILL"));
    await eventually(async () => {
      try {
        return (await request(`${this.url}/healthz`, { timeout: 1_000 })).status === 200;
      } catch {
        return false;
      }
    }, { timeout: 10_000, interval: 100, what: "HAProxy to answer" });
  }

  async stop() {
    if (!this.child) return;
    const exited = new Promise((resolve) => this.child.once("close", resolve));
    this.child.kill("SIGTERM");
    await exited;
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function keepAliveAgent(maxSockets = 8) {
  return new http.Agent({ keepAlive: true, maxSockets });
}

export { eventually, request, sleep, within };
