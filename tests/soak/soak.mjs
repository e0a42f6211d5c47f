// Soak: one ssehub node under mixed load for a long time (SOAK_SECONDS, default 30 min):
// subscribers that come and go and resume by id, publishers on kept-alive and on fresh
// connections. Samples the server's RSS, open file descriptors and threads every
// SOAK_SAMPLE_SECONDS and checks at the end that
//   - no event was lost: every acknowledged publish reached every subscriber that was there
//     for it (connected, or resuming from an id before it), once and in order;
//   - resources are flat: last-quarter averages of RSS and fds within SOAK_TOLERANCE (15 %) of
//     the second quarter's, the same number of threads throughout, and fds back to the
//     idle baseline once every client has gone.
// Prints the curve as a table and writes it with the verdicts to SOAK_REPORT (docs/SOAK.md).
// Exit status 0 when every check passes, 1 otherwise.
//
// Knobs (environment): SOAK_SECONDS, SOAK_SAMPLE_SECONDS (10), SOAK_USERS (40),
// SOAK_SUBSCRIBERS (200), SOAK_RATE (publishes/s, 100), SOAK_CHURN (subscriber
// disconnects/s, 5), SOAK_TOLERANCE (0.15), SOAK_REPORT, SSEHUB_BIN.

import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { BINARY, ROOT, metrics, request, sleep, startServer } from "../integration/lib/server.mjs";

const env = (name, fallback) => (process.env[name] === undefined || process.env[name] === "" ? fallback : Number(process.env[name]));
const SECONDS = env("SOAK_SECONDS", 1800);
const SAMPLE_SECONDS = env("SOAK_SAMPLE_SECONDS", 10);
const USERS = env("SOAK_USERS", 40);
const SUBSCRIBERS = env("SOAK_SUBSCRIBERS", 200);
const RATE = env("SOAK_RATE", 100);
const CHURN = env("SOAK_CHURN", 5);
const TOLERANCE = env("SOAK_TOLERANCE", 0.15);
const REPORT = process.env.SOAK_REPORT || path.join(ROOT, "docs/SOAK.md");
const PAD = "x".repeat(200);

const log = (...args) => console.log(new Date().toISOString().slice(11, 19), ...args);
const random = (n) => Math.floor(Math.random() * n);

// ---------------------------------------------------------------------------------------------
// What was published and acknowledged

const users = Array.from({ length: USERS }, (_, i) => `soak-${process.pid}-${i}`);
const acked = new Map(users.map((u) => [u, new Map()])); // user -> Map(id -> seq)
const maxAcked = new Map(users.map((u) => [u, 0]));
const sentTo = new Map(); // seq -> user
const outcomes = new Map();
const count = (kind) => outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
let seq = 0;

async function publishOnce(url, agent) {
  const user = users[random(users.length)];
  const n = ++seq;
  sentTo.set(n, user);
  try {
    const res = await request(`${url}/v2/message?username=${encodeURIComponent(user)}`, {
      method: "POST", agent, timeout: 10_000, headers: { "Content-Type": "text/plain" }, body: `s${n} ${PAD}`,
    });
    count(String(res.status));
    if (res.status === 204) {
      const id = Number(res.headers["x-event-id"]);
      acked.get(user).set(id, n);
      if (id > maxAcked.get(user)) maxAcked.set(user, id);
    }
  } catch (e) {
    count(e.code ?? "no-answer");
  }
}

// ---------------------------------------------------------------------------------------------
// Subscribers: a lean SSE reader (only what ssehub sends: id, data, comments, retry), keeping
// just the ids and publish numbers it received, so that 30 minutes fit in memory.

class Subscriber {
  constructor(url, user, from) {
    this.url = url;
    this.user = user;
    this.from = from; // expects every acknowledged id above this
    this.lastId = from;
    this.ids = [];
    this.seqs = [];
    this.connections = 0;
    this.failedConnects = 0;
    this.retired = false;
    this.req = null;
    this.reconnectTimer = null;
  }

  connect() {
    if (this.retired) return;
    const url = `${this.url}/v2/sse?username=${encodeURIComponent(this.user)}`;
    const req = http.get(url, { agent: false, headers: { Accept: "text/event-stream", "Last-Event-ID": String(this.lastId) } }, (res) => {
      if (res.statusCode !== 200) {
        count(`sse ${res.statusCode}`);
        res.resume();
        return;
      }
      this.connections++;
      res.setEncoding("utf8");
      let buffer = "";
      let id;
      let data;
      res.on("data", (chunk) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === "") {
            if (data !== undefined && id !== undefined) this.receive(id, data);
            id = undefined;
            data = undefined;
          } else if (line.startsWith("id: ")) id = Number(line.slice(4));
          else if (line.startsWith("data: ")) data = line.slice(6);
        }
      });
    });
    req.on("error", () => {});
    req.on("close", () => {
      if (this.req !== req) return;
      this.req = null;
      if (!this.retired) this.reconnectTimer = setTimeout(() => this.connect(), 200 + random(800));
    });
    this.req = req;
  }

  receive(id, data) {
    this.ids.push(id);
    this.seqs.push(Number(data.slice(1, data.indexOf(" "))));
    this.lastId = id;
  }

  /** Drops the connection; it comes back by itself, resuming from the last id it has. */
  drop() {
    const req = this.req;
    if (!req) return;
    req.destroy();
  }

  retire() {
    this.retired = true;
    clearTimeout(this.reconnectTimer);
    this.req?.destroy();
    this.req = null;
  }

  /** Problems in what it received: order, duplicates, gaps, misrouting. */
  audit() {
    const problems = [];
    for (let i = 1; i < this.ids.length; i++) {
      if (this.ids[i] <= this.ids[i - 1]) {
        problems.push(`${this.user}: id ${this.ids[i]} after ${this.ids[i - 1]} (duplicate or out of order)`);
        break;
      }
    }
    const got = new Map(this.ids.map((id, i) => [id, this.seqs[i]]));
    const through = this.retired ? this.lastId : maxAcked.get(this.user);
    let missing = 0;
    for (const [id, n] of acked.get(this.user)) {
      if (id <= this.from || id > through) continue;
      if (!got.has(id)) missing++;
      else if (got.get(id) !== n) problems.push(`${this.user}: id ${id} carried publish ${got.get(id)}, acknowledged for ${n}`);
    }
    if (missing > 0) problems.push(`${this.user}: ${missing} acknowledged events in (${this.from}, ${through}] never arrived`);
    for (const n of this.seqs) {
      if (sentTo.get(n) !== this.user) {
        problems.push(`${this.user}: received publish ${n}, sent to ${sentTo.get(n)}`);
        break;
      }
    }
    return problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Sampling

function sampleProcess(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return { rssMb: field("VmRSS") / 1024, threads: field("Threads"), fds: readdirSync(`/proc/${pid}/fd`).length };
}

const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
const average = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

// ---------------------------------------------------------------------------------------------

async function main() {
  const server = await startServer(["--history-max-events", "1000", "--max-streams-per-user", "64"], {
    baseArgs: ["--threads", "2", "--keepalive-ms", "5000", "--retry-ms", "1000", "--log-level", "warn"],
  });
  const pid = server.proc.pid;
  log(`ssehub ${BINARY} pid ${pid} on ${server.url}; ${SECONDS} s, ${USERS} users, ${SUBSCRIBERS} subscribers, ` +
      `${RATE} publishes/s, ${CHURN} disconnects/s, sample every ${SAMPLE_SECONDS} s`);
  await sleep(1_000);
  const baseline = sampleProcess(pid);
  log(`idle baseline: RSS ${baseline.rssMb.toFixed(1)} MB, ${baseline.fds} fds, ${baseline.threads} threads`);

  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  const subscribers = [];
  const live = [];
  const spawnSubscriber = (user) => {
    const sub = new Subscriber(server.url, user, maxAcked.get(user));
    subscribers.push(sub);
    live.push(sub);
    sub.connect();
  };
  for (let i = 0; i < SUBSCRIBERS; i++) spawnSubscriber(users[i % users.length]);

  // Publishers: kept-alive connections at RATE in all, plus one loop that opens a fresh
  // connection for every publish (accept/close churn).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let publishing = true;
  const loops = [];
  for (let w = 0; w < 4; w++) {
    loops.push((async () => {
      const interval = 4000 / RATE;
      let next = Date.now();
      while (publishing) {
        await publishOnce(server.url, agent);
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -1000) next = Date.now();
      }
    })());
  }
  loops.push((async () => {
    while (publishing) {
      await publishOnce(server.url, false);
      await sleep(200);
    }
  })());

  // Churn: drops (resume by id) and, one in four, a subscriber leaving for good and a new one
  // arriving for another user.
  let drops = 0;
  let replacements = 0;
  const churn = setInterval(() => {
    const sub = live[random(live.length)];
    if (!sub) return;
    if (random(4) === 0) {
      sub.retire();
      live.splice(live.indexOf(sub), 1);
      spawnSubscriber(users[random(users.length)]);
      replacements++;
    } else {
      sub.drop();
      drops++;
    }
  }, 1000 / CHURN);

  const samples = [];
  let lastSeq = 0;
  const takeSample = async () => {
    const p = sampleProcess(pid);
    const m = await metrics(server.url);
    const t = Math.round((Date.now() - started) / 1000);
    const row = {
      t, ...p, streams: m.get("ssehub_streams_open"), connections: m.get("ssehub_connections_open"),
      accepted: m.get("ssehub_events_accepted_total"), delivered: m.get("ssehub_events_delivered_total"),
      pubRate: (seq - lastSeq) / SAMPLE_SECONDS,
      sqliteMb: m.get("ssehub_sqlite_memory_bytes") / 2 ** 20, heapMb: m.get("ssehub_heap_in_use_bytes") / 2 ** 20,
      heapFreeMb: m.get("ssehub_heap_free_bytes") / 2 ** 20, walBehind: m.get("ssehub_history_wal_frames_behind"),
    };
    lastSeq = seq;
    samples.push(row);
    log(`t=${String(t).padStart(5)} s  RSS ${row.rssMb.toFixed(1).padStart(6)} MB  fds ${String(row.fds).padStart(4)}  ` +
        `threads ${row.threads}  streams ${row.streams}  accepted ${row.accepted}  delivered ${row.delivered}  ` +
        `sqlite ${row.sqliteMb.toFixed(1)} MB  heap ${row.heapMb.toFixed(1)} MB (+${row.heapFreeMb.toFixed(1)} MB free)  ` +
        `WAL frames behind ${row.walBehind}`);
  };
  for (let k = 1; started + k * SAMPLE_SECONDS * 1000 <= deadline; k++) {
    await sleep(Math.max(0, started + k * SAMPLE_SECONDS * 1000 - Date.now()));
    await takeSample();
  }
  await sleep(Math.max(0, deadline - Date.now()));

  // Wind down: no more churn or publishes; every live subscriber must catch up.
  clearInterval(churn);
  publishing = false;
  await Promise.all(loops);
  agent.destroy();
  const drainDeadline = Date.now() + 30_000;
  const behind = () => live.filter((s) => s.lastId < maxAcked.get(s.user));
  while (behind().length > 0 && Date.now() < drainDeadline) await sleep(100);
  for (const sub of live) sub.retire();
  await sleep(3_000); // the server notices the closed sockets
  const after = sampleProcess(pid);
  const finalMetrics = await metrics(server.url);
  await server.dispose();

  // Verdicts
  const problems = [];
  for (const sub of subscribers) problems.push(...sub.audit());
  const totalAcked = [...acked.values()].reduce((n, m) => n + m.size, 0);
  let expectedDeliveries = 0;
  for (const sub of subscribers) {
    const through = sub.lastId;
    for (const id of acked.get(sub.user).keys()) if (id > sub.from && id <= through) expectedDeliveries++;
  }
  const quarter = (q) => samples.filter((s) => s.t > (q - 1) * SECONDS / 4 && s.t <= q * SECONDS / 4);
  const q2 = quarter(2);
  const q4 = quarter(4);
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  check("no event lost, duplicated, reordered or misrouted", problems.length === 0,
        problems.length === 0 ? `${totalAcked} acknowledged publishes, ${expectedDeliveries} deliveries checked`
                              : `${problems.length} problems, first: ${problems.slice(0, 3).join("; ")}`);
  const failedPublishes = [...outcomes].filter(([k]) => k !== "204").reduce((n, [, v]) => n + v, 0);
  check("every publish acknowledged", failedPublishes === 0, JSON.stringify(Object.fromEntries(outcomes)));
  const within = (a, b) => Math.abs(a - b) <= TOLERANCE * b;
  const rss2 = average(q2.map((s) => s.rssMb));
  const rss4 = average(q4.map((s) => s.rssMb));
  check(`RSS flat (last quarter within ${TOLERANCE * 100} % of second)`, q2.length > 0 && q4.length > 0 && within(rss4, rss2),
        `Q2 ${rss2.toFixed(1)} MB, Q4 ${rss4.toFixed(1)} MB (${(100 * (rss4 - rss2) / rss2).toFixed(1)} %)`);
  const fd2 = average(q2.map((s) => s.fds));
  const fd4 = average(q4.map((s) => s.fds));
  check(`fds flat under load (last quarter within ${TOLERANCE * 100} % of second)`, q2.length > 0 && q4.length > 0 && within(fd4, fd2),
        `Q2 ${fd2.toFixed(1)}, Q4 ${fd4.toFixed(1)}`);
  check("fds back to the idle baseline after the clients left", after.fds <= baseline.fds + 2,
        `baseline ${baseline.fds}, after ${after.fds}`);
  const threadCounts = [...new Set([baseline.threads, ...samples.map((s) => s.threads), after.threads])];
  check("thread count constant", threadCounts.length === 1, `thread counts seen: ${threadCounts.join(", ")}`);
  // A read left open pins the history WAL: checkpoints then copy nothing and it grows forever.
  const walBehind = finalMetrics.get("ssehub_history_wal_frames_behind");
  check("history WAL checkpointed", walBehind < 1000, `${walBehind} frames not copied back at the end`);
  check("streams closed after the clients left", finalMetrics.get("ssehub_streams_open") === 0,
        `ssehub_streams_open ${finalMetrics.get("ssehub_streams_open")}`);

  const table = [
    "| t (s) | RSS (MB) | SQLite (MB) | heap in use (MB) | heap free (MB) | fds | threads | streams open | connections | publishes/s | events accepted | events delivered |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| idle | ${baseline.rssMb.toFixed(1)} | | | | ${baseline.fds} | ${baseline.threads} | 0 | 0 | 0 | 0 | 0 |`,
    ...thin(samples, 60).map((s) => `| ${s.t} | ${s.rssMb.toFixed(1)} | ${s.sqliteMb.toFixed(1)} | ${s.heapMb.toFixed(1)} | ` +
                                    `${s.heapFreeMb.toFixed(1)} | ${s.fds} | ${s.threads} | ${s.streams} | ${s.connections} | ` +
                                    `${s.pubRate.toFixed(0)} | ${s.accepted} | ${s.delivered} |`),
    `| after | ${after.rssMb.toFixed(1)} | ${mb(finalMetrics.get("ssehub_sqlite_memory_bytes"))} | ` +
    `${mb(finalMetrics.get("ssehub_heap_in_use_bytes"))} | ${mb(finalMetrics.get("ssehub_heap_free_bytes"))} | ` +
    `${after.fds} | ${after.threads} | ${finalMetrics.get("ssehub_streams_open")} | ` +
    `${finalMetrics.get("ssehub_connections_open")} | 0 | ${finalMetrics.get("ssehub_events_accepted_total")} | ` +
    `${finalMetrics.get("ssehub_events_delivered_total")} |`,
  ];
  const verdicts = checks.map((c) => `- ${c.ok ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`);
  const passed = checks.every((c) => c.ok);
  const minutes = (SECONDS / 60).toFixed(SECONDS % 60 === 0 ? 0 : 1);
  const report = [
    "# Soak",
    "",
    `\`make soak\` (\`scripts/soak\`, client \`tests/soak/soak.mjs\`): one ssehub node under mixed load for ` +
    `${minutes} min, sampled every ${SAMPLE_SECONDS} s. Written by the last run; ${passed ? "every check passed" : "SOME CHECKS FAILED"}.`,
    "",
    `- When: ${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GB`,
    `- Server: \`${path.relative(ROOT, BINARY)} --threads 2 --keepalive-ms 5000 --history-max-events 1000\`, data dir under ${os.tmpdir()}`,
    `- Load: ${USERS} users; ${SUBSCRIBERS} subscribers, ${CHURN} disconnects/s (3 in 4 resume by Last-Event-ID after 0.2-1 s, ` +
    `1 in 4 leave for good and a new subscriber of another user arrives); ${RATE} publishes/s on 4 kept-alive connections ` +
    `plus 5/s on a fresh connection each; bodies of ~210 bytes`,
    `- Totals: ${seq} publishes (${totalAcked} acknowledged), ${subscribers.length} subscribers over the run, ${drops} drops, ` +
    `${replacements} replacements, ${subscribers.reduce((n, s) => n + s.connections, 0)} stream connections, ` +
    `${finalMetrics.get("ssehub_resumes_total")} resumes, ${finalMetrics.get("ssehub_resets_total")} resets`,
    "",
    "## Verdicts",
    "",
    ...verdicts,
    "",
    "## Curve",
    "",
    samples.length > 60 ? `Every ${Math.ceil(samples.length / 60)}th of ${samples.length} samples, plus the last.` : `All ${samples.length} samples.`,
    "",
    ...table,
    "",
  ].join("\n");
  console.log(`\n${table.join("\n")}\n\n${verdicts.join("\n")}`);
  writeFileSync(REPORT, report);
  log(`wrote ${path.relative(process.cwd(), REPORT)}`);
  process.exit(passed ? 0 : 1);
}

/** At most `n` rows, evenly spaced, always with the last. */
function thin(rows, n) {
  if (rows.length <= n) return rows;
  const step = Math.ceil(rows.length / n);
  return rows.filter((_, i) => i % step === 0 || i === rows.length - 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
