// The compatibility suite (issue 12): every SSE client in tests/compat/clients.mjs, in its
// default configuration, against the real binary. Each client's driver connects to a stream and
// prints what the client hands to the application; this harness publishes, kills and restarts
// the server, and compares. Each check of checks.mjs is one test per client; the results go to
// docs/compatibility-results.json, from which report.mjs writes docs/COMPATIBILITY.md and the
// table in README.
//
// Needs build/ssehub, tests/node_modules (scripts/npm-install tests), Debian's chromium, and
// what scripts/compat-setup installs. COMPAT_CLIENTS=id,id runs only those clients (and then
// writes the results to a temporary file, leaving docs/ alone); COMPAT_RESULTS names the file.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  ROOT, eventually, metrics, publish, publishOk, sleep, sse, startServer,
} from "../integration/lib/server.mjs";
import {
  BODIES, CHECKS, EDGE_BODIES, LARGEST_LINE_BYTES, MAX_EVENT_BYTES, bodyOfBytes, delivered,
} from "./checks.mjs";
import { CLIENTS } from "./clients.mjs";
import { Driver } from "./driver.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SELECTED = process.env.COMPAT_CLIENTS?.split(",").filter(Boolean);
const clients = SELECTED ? CLIENTS.filter((c) => SELECTED.includes(c.id)) : CLIENTS;
if (SELECTED && clients.length !== SELECTED.length) {
  throw new Error(`COMPAT_CLIENTS names unknown clients; known: ${CLIENTS.map((c) => c.id).join(", ")}`);
}

// The server as clients meet it by default (keep-alives every 30 s), with a short retry hint so
// that reconnections take little time; and the same with keep-alives every 10 ms (CHATTY).
const BASE_ARGS = ["--threads", "2", "--log-level", "info", "--retry-ms", "300"];
const QUIET = BASE_ARGS;
// Keep-alive lines (18 bytes) every 10-15 ms, which ride in the next event's block. The idle run
// lets 200 pass twice, before the first event and after one. Then, after another event (which
// ends the block), it waits 1.5 s before the largest message, so that the client's buffer must
// hold over 1.5 KiB of keep-alive lines and the largest event at once (at most 150 lines: the
// two still fit the 64 KiB of a Go client).
const CHATTY = [...BASE_ARGS, "--keepalive-ms", "10"];
const IDLE_KEEPALIVES = 200;
const BEFORE_LARGEST_MS = 1_500;
const PROMPT_MS = 1_000;
const LARGEST = bodyOfBytes(LARGEST_LINE_BYTES);

const streamUrl = (server, user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

/** Waits until the server holds `n` open streams (the driver is connected). */
function waitStreams(server, n, timeout = 20_000) {
  return eventually(async () => (await metrics(server.url)).get("ssehub_streams_open") >= n,
                    { timeout, interval: 50, what: `${n} open stream(s)` });
}

/** Every event history holds for `user` up to `lastId`, read with a WHATWG parser: [{id, data}]. */
async function storedEvents(server, user, lastId) {
  const stream = await sse(streamUrl(server, user), { headers: { "Last-Event-ID": "earliest" } });
  try {
    await stream.waitId(lastId, { timeout: 10_000 });
    return stream.events.filter((e) => e.type === "message").map((e) => ({ id: Number(e.idField), data: e.data }));
  } finally {
    stream.close();
  }
}

/** Problems found for each check of one client; a check with none and `evaluated` passed. */
class Findings {
  constructor() {
    this.problems = new Map(CHECKS.map((c) => [c.id, []]));
    this.evaluated = new Set();
  }

  check(id, problems) {
    this.evaluated.add(id);
    this.problems.get(id).push(...problems);
  }

  /** A run that could not finish: its checks fail with the reason. */
  broken(ids, why) {
    for (const id of ids) this.check(id, [why]);
  }
}

const short = (text) => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);

/** The ids problems of one run: every published message carries its own id, increasing. */
function idProblems(messages, stored, run) {
  const problems = [];
  const published = messages.filter((m) => m.data !== "");
  let previous = 0;
  for (const m of published) {
    const id = Number(m.id);
    if (!Number.isSafeInteger(id) || id <= 0 || String(id) !== m.id) {
      problems.push(`${run}: message ${short(m.data)} came with id ${JSON.stringify(m.id)}`);
      return problems;
    }
    if (id <= previous) problems.push(`${run}: id ${id} after ${previous}`);
    if (stored && stored.has(id) && /^(prompt|resume) \d+$/.test(m.data) && stored.get(id) !== m.data) {
      problems.push(`${run}: id ${id} came with ${short(m.data)}; ssehub stored ${short(stored.get(id))} under it`);
    }
    previous = Math.max(previous, id);
  }
  return problems;
}

/**
 * Messages the application got that nobody published: empty ones, or any not in `expected`.
 * Each is named with the published message before it.
 */
function spuriousProblems(messages, run, expected = null) {
  const problems = [];
  let previous = null;
  for (const m of messages) {
    if (m.data === "" || (expected && !expected.includes(m.data))) {
      problems.push(`${run}: ${m.data === "" ? "an empty message" : `an unpublished message ${short(m.data)}`}` +
                    ` (id ${JSON.stringify(m.id)}) ${previous === null ? "before any event" : `after ${short(previous)}`}`);
    } else {
      previous = m.data;
    }
  }
  return problems;
}

/** Problems of bodies published as [{label, body, id}], matched to messages by id. */
function bodyProblems(messages, published) {
  const problems = [];
  for (const { label, body, id } of published) {
    const m = messages.find((x) => x.id === String(id));
    if (!m) problems.push(`${label}: no message with id ${id}`);
    else if (m.data !== delivered(body)) {
      problems.push(`${label}: got ${JSON.stringify(m.data)}, published ${JSON.stringify(body)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The runs. Each starts its own server and driver, and adds what it saw to the findings.

/**
 * One stream on a quiet server: nothing on connect, prompt small events, the bodies, then
 * kill -9 and a restart while publishing. Calls `warm()` once the timing-sensitive part is over.
 */
async function liveRun(client, f, warm) {
  const covered = ["no-empty", "prompt", "bodies", "resume", "ids"];
  const server = await startServer([], { baseArgs: QUIET });
  const user = "live";
  const driver = new Driver(client, streamUrl(server, user));
  f.drivers.push(driver);
  try {
    await waitStreams(server, 1);
    await sleep(500);
    const onConnect = driver.messages.map((m) => `on connect: ${m.data === "" ? "an empty message" : short(m.data)}`);

    const prompt = [];
    for (let i = 1; i <= 3; i++) {
      const body = `prompt ${i}`;
      await publishOk(server.url, user, body);
      const acknowledged = Date.now();
      const message = await driver.waitMessage(body, { timeout: 3 * PROMPT_MS }).catch(() => null);
      if (!message) prompt.push(`${body}: not delivered within ${3 * PROMPT_MS} ms of its 204`);
      else if (message.at - acknowledged > PROMPT_MS) {
        prompt.push(`${body}: delivered ${message.at - acknowledged} ms after its 204`);
      }
      await sleep(100);
    }
    f.check("prompt", prompt);
    warm();

    const published = [];
    for (const [label, body] of BODIES) published.push({ label, body, id: await publishOk(server.url, user, body) });
    const bodiesEnd = published.at(-1).id;
    await driver.waitFor((d) => d.messages.some((m) => Number(m.id) >= bodiesEnd), { timeout: 5_000 }).catch(() => {});

    // Publish one at a time, in a loop that keeps trying while the server is down; kill -9 after
    // 10 acknowledged, restart, and stop 20 acknowledged later. A publish cut off by the kill may
    // or may not have been stored: what history holds afterwards is what the client must get.
    let acknowledged = 0;
    let lastId = bodiesEnd;
    let n = 0;
    let stop = false;
    const publisher = (async () => {
      while (!stop) {
        try {
          const res = await publish(server.url, user, `resume ${n++}`, { agent: false });
          if (res.status === 204) {
            acknowledged++;
            lastId = res.id;
          }
        } catch {
          await sleep(30);
        }
        await sleep(20);
      }
    })();
    const acknowledgedAtLeast = (k) => eventually(() => acknowledged >= k, { timeout: 20_000, what: `${k} publishes` });
    await acknowledgedAtLeast(10);
    await server.kill9();
    const beforeRestart = acknowledged;
    await sleep(300);
    await server.start();
    await acknowledgedAtLeast(beforeRestart + 20);
    stop = true;
    await publisher;
    await driver.waitFor((d) => d.messages.some((m) => Number(m.id) >= lastId), { timeout: 20_000 }).catch(() => {});
    await sleep(300); // room for a duplicate to show

    const stored = await storedEvents(server, user, lastId);
    const storedById = new Map(stored.map((e) => [e.id, e.data]));
    const messages = driver.messages;
    f.check("bodies", bodyProblems(messages, published));
    f.check("ids", idProblems(messages, storedById, "live"));
    f.check("no-empty", [...onConnect, ...spuriousProblems(messages, "live")]);

    const expected = stored.filter((e) => e.id > bodiesEnd);
    const got = messages.filter((m) => m.data !== "" && Number(m.id) > bodiesEnd);
    const counts = new Map();
    for (const m of got) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
    const missing = expected.filter((e) => !counts.has(String(e.id))).map((e) => e.id);
    const duplicated = [...counts].filter(([, k]) => k > 1).map(([id]) => id);
    const resume = [];
    if (missing.length > 0) {
      resume.push(`${missing.length} of ${expected.length} stored events never arrived: ids ${missing.slice(0, 10).join(", ")}` +
                  `${missing.length > 10 ? ", …" : ""}`);
    }
    if (duplicated.length > 0) resume.push(`ids delivered more than once: ${duplicated.slice(0, 10).join(", ")}`);
    for (const m of got) {
      if (storedById.has(Number(m.id)) && storedById.get(Number(m.id)) !== m.data) {
        resume.push(`id ${m.id} came with ${short(m.data)}, stored as ${short(storedById.get(Number(m.id)))}`);
        break;
      }
    }
    f.check("resume", resume);
  } catch (e) {
    f.broken(covered.filter((c) => !f.evaluated.has(c)), `live run: ${e.message}`);
  } finally {
    warm();
    await driver.stop();
    await server.dispose();
  }
}

/** A stream through hundreds of keep-alive comments, then the largest accepted message. */
async function idleRun(client, f) {
  const server = await startServer([], { baseArgs: CHATTY });
  const user = "idle";
  const driver = new Driver(client, streamUrl(server, user));
  f.drivers.push(driver);
  try {
    await waitStreams(server, 1);
    // A raw stream beside the driver's, opened just after it and fed at the same pace, counts the
    // keep-alive lines (if ssehub ended the stream rather than a block, the wait ends there).
    let witness = await sse(streamUrl(server, user));
    const keepAlivesPass = async (since) => {
      if (witness.ended) witness = await sse(streamUrl(server, user));
      await witness.waitFor((w) => w.ended || w.comments.filter((c) => c.at > since).length >= IDLE_KEEPALIVES,
                            { timeout: 20_000, what: `${IDLE_KEEPALIVES} keep-alive lines` });
      await sleep(300); // the driver's stream, opened first, is there too
    };
    const known = ["after a block with the retry line", "after a block of keep-alives", LARGEST, "after largest"];
    let since = Date.now();
    for (const body of known.slice(0, 2)) {
      await keepAlivesPass(since);
      since = Date.now();
      await publishOk(server.url, user, body);
      await driver.waitMessage(body, { timeout: 3_000 }).catch(() => {});
    }
    await sleep(BEFORE_LARGEST_MS);
    const largest = await publish(server.url, user, LARGEST);
    await publishOk(server.url, user, "after largest");
    await driver.waitMessage("after largest", { timeout: 10_000 }).catch(() => {});
    await sleep(500);

    witness.close();

    const messages = driver.messages;
    f.check("no-empty", spuriousProblems(messages, "keep-alives", known));
    f.check("ids", idProblems(messages, null, "keep-alives"));
    const problems = [];
    if (largest.status !== 204) problems.push(`ssehub answered the largest message with ${largest.status}: ${largest.body}`);
    const got = messages.find((m) => m.id === String(largest.id));
    if (!got) problems.push(`the largest message (id ${largest.id}) never arrived`);
    else if (got.data !== LARGEST) problems.push(`the largest message arrived altered (${Buffer.byteLength(got.data)} bytes)`);
    if (!messages.some((m) => m.data === "after largest")) problems.push("the message after the largest never arrived");
    f.check("largest", problems);
  } catch (e) {
    f.broken(["largest", "no-empty"].filter((c) => !f.evaluated.has(c)), `keep-alive run: ${e.message}`);
  } finally {
    await driver.stop();
    await server.dispose();
  }
}

/** A client never connected before starts from `earliest`. */
async function earliestRun(client, f) {
  const server = await startServer([], { baseArgs: QUIET });
  const user = "earliest";
  const bodies = ["stored first", "stored second", "stored third"];
  let driver;
  try {
    for (const body of bodies) await publishOk(server.url, user, body);
    driver = new Driver(client, streamUrl(server, user), "earliest");
    f.drivers.push(driver);
    await driver.waitMessage("stored third", { timeout: 10_000 }).catch(() => {});
    await publishOk(server.url, user, "live after the replay");
    await driver.waitMessage("live after the replay", { timeout: 3_000 }).catch(() => {});
    await sleep(200);

    const messages = driver.messages.filter((m) => m.data !== "");
    const got = messages.map((m) => `${m.id}:${m.data}`);
    const expected = [...bodies, "live after the replay"].map((b, i) => `${i + 1}:${b}`);
    f.check("earliest", got.join("|") === expected.join("|") ? [] :
      [`expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`]);
    f.check("no-empty", spuriousProblems(driver.messages, "earliest"));
    f.check("ids", idProblems(driver.messages, null, "earliest"));
  } catch (e) {
    f.broken(["earliest"].filter((c) => !f.evaluated.has(c)), `earliest run: ${e.message}`);
  } finally {
    await driver?.stop();
    await server.dispose();
  }
}

/** Resuming from an id retention dropped: `reset` first, then what is retained. */
async function resetRun(client, f) {
  const server = await startServer([], { baseArgs: [...QUIET, "--history-max-events", "10"] });
  const user = "reset";
  let driver;
  try {
    for (let i = 1; i <= 15; i++) await publishOk(server.url, user, `stored ${i}`);
    driver = new Driver(client, streamUrl(server, user), "2");
    f.drivers.push(driver);
    await driver.waitMessage("stored 15", { timeout: 30_000 }).catch(() => {});
    await sleep(200);

    const events = driver.events.filter((e) => e.data !== "");
    const problems = [];
    const [first, ...rest] = events;
    let data = null;
    try {
      data = JSON.parse(first?.data);
    } catch {}
    if (!first) problems.push("no event arrived");
    else if (first.type !== "reset") problems.push(`the first event is ${first.type} ${short(first.data)}, not reset`);
    else if (first.id !== "5" || data?.reason !== "history_trimmed" || data?.lastEventId !== "2" || data?.continuesAfter !== "5") {
      problems.push(`reset came with id ${JSON.stringify(first.id)} and data ${first.data}`);
    }
    const got = rest.map((e) => `${e.type}:${e.id}:${e.data}`);
    const expected = Array.from({ length: 10 }, (_, i) => `message:${i + 6}:stored ${i + 6}`);
    if (got.join("|") !== expected.join("|")) problems.push(`after reset expected ids 6-15, got ${JSON.stringify(got)}`);
    f.check("reset", problems);
    f.check("no-empty", spuriousProblems(driver.messages, "reset"));
    f.check("ids", idProblems(driver.messages, null, "reset"));
  } catch (e) {
    f.broken(["reset"].filter((c) => !f.evaluated.has(c)), `reset run: ${e.message}`);
  } finally {
    await driver?.stop();
    await server.dispose();
  }
}

/** Bodies at the edges of the format. */
async function edgesRun(client, f) {
  const server = await startServer([], { baseArgs: QUIET });
  const user = "edges";
  const driver = new Driver(client, streamUrl(server, user));
  f.drivers.push(driver);
  try {
    await waitStreams(server, 1);
    const published = [];
    for (const [label, body] of EDGE_BODIES) published.push({ label, body, id: await publishOk(server.url, user, body) });
    const lastId = published.at(-1).id;
    await driver.waitFor((d) => d.messages.some((m) => Number(m.id) >= lastId), { timeout: 5_000 }).catch(() => {});
    await sleep(200);
    f.check("edges", bodyProblems(driver.messages, published));
  } catch (e) {
    f.broken(["edges"].filter((c) => !f.evaluated.has(c)), `edges run: ${e.message}`);
  } finally {
    await driver.stop();
    await server.dispose();
  }
}

/** Every run of one client; the findings, the client's version and its drivers' output. */
async function exercise(client) {
  const f = new Findings();
  f.drivers = [];
  let warm;
  const warmed = new Promise((resolve) => (warm = resolve));
  const live = liveRun(client, f, warm);
  await warmed; // the prompt check first, alone on the machine
  await Promise.all([live, idleRun(client, f), earliestRun(client, f), resetRun(client, f), edgesRun(client, f)]);
  f.version = f.drivers.map((d) => d.hello?.version).find(Boolean) ?? "(the driver did not start)";
  return f;
}

// ---------------------------------------------------------------------------------------------

const results = [];

describe("the largest message ssehub accepts", () => {
  let server;
  before(async () => {
    server = await startServer([], { baseArgs: QUIET });
  });
  after(() => server?.dispose());

  it(`accepts a one-line message of ${LARGEST_LINE_BYTES} bytes (its event with a 20-digit id is ${MAX_EVENT_BYTES} bytes)`, async () => {
    const res = await publish(server.url, "limit", LARGEST);
    assert.equal(res.status, 204, res.body);
  });

  it("refuses one byte more with 413 event_too_large", async () => {
    const res = await publish(server.url, "limit", bodyOfBytes(LARGEST_LINE_BYTES + 1));
    assert.equal(res.status, 413, res.body);
    assert.equal(res.json?.error, "event_too_large", res.body);
  });
});

for (const client of clients) {
  describe(`${client.name} (${client.language})`, () => {
    let findings;
    before(async () => {
      findings = await exercise(client);
      results.push({
        id: client.id,
        name: client.name,
        language: client.language,
        version: findings.version,
        usage: client.usage,
        checks: Object.fromEntries(CHECKS.map((c) => {
          const problems = findings.evaluated.has(c.id) ? findings.problems.get(c.id) : ["not evaluated"];
          return [c.id, { ok: problems.length === 0, problems }];
        })),
      });
    });

    for (const check of CHECKS) {
      it(`${check.label}${check.extra ? " (extra)" : ""}`, (t) => {
        const { problems } = results.find((r) => r.id === client.id).checks[check.id];
        // The extra checks find client bugs that ssehub cannot avoid without breaking the
        // format: they are reported (TODO here, ✗ in the table), and do not fail the suite.
        if (check.extra && problems.length > 0) t.todo("a client bug, see docs/COMPATIBILITY.md");
        assert.deepEqual(problems, [],
                         `${client.name}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}` +
                         `\n  ${problems.join("\n  ")}\n  (${check.description})\n\n` +
                         findings.drivers.map((d) => d.describe()).join("\n"));
      });
    }
  });
}

after(() => {
  if (results.length === 0) return;
  const file = process.env.COMPAT_RESULTS ??
    (SELECTED ? path.join(os.tmpdir(), `ssehub-compat-${process.pid}.json`) : path.join(ROOT, "docs/compatibility-results.json"));
  const commit = (() => {
    try {
      const head = execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
      const changed = execFileSync("git", ["-C", ROOT, "status", "--porcelain", "--", "src", "tests", "scripts"],
                                   { encoding: "utf8" }).trim();
      return changed ? `${head} with local changes` : head;
    } catch {
      return "unknown";
    }
  })();
  const order = new Map(CLIENTS.map((c, i) => [c.id, i]));
  results.sort((a, b) => order.get(a.id) - order.get(b.id));
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), commit, clients: results }, null, 2)}\n`);
  console.log(`# compatibility results: ${file}`);
  if (!SELECTED) execFileSync(process.execPath, [path.join(HERE, "report.mjs"), file], { stdio: "inherit" });
});
