// Helpers of the integration tests: the real ssehub binary on a free port with its own data
// directory, and small real clients (a raw SSE reader, curl, a Prometheus text parser).
//
// SSEHUB_BIN overrides where the binary is found (default: build/ssehub at the repository root).

import { after, afterEach } from "node:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EventSource } from "eventsource";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BINARY = process.env.SSEHUB_BIN ?? path.join(ROOT, "build/ssehub");

// Short timers so tests run fast; a test that needs other values passes its own (later wins).
export const FAST_ARGS = [
  "--keepalive-ms", "300",
  "--v1-keepalive-ms", "200",
  "--v1-hi-interval-ms", "1000",
  "--retry-ms", "200",
  "--threads", "2",
  "--log-level", "info",
];

const START_TIMEOUT_MS = 15_000;
const BINARY_WAIT_MS = 60_000; // the lead may be relinking build/ssehub
// A hang detector, not a speed check (tests of prompt shutdown pass their own bound): an
// ASan build on a loaded machine may take seconds to finish in-flight work, close Kafka
// clients and run LeakSanitizer.
const STOP_TIMEOUT_MS = 20_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with `what` if `promise` has not settled within `ms`. */
export function within(ms, promise, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` (sync or async) until it returns a truthy value, or throws after `timeout` ms. */
export async function eventually(check, { timeout = 5_000, interval = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
                      (last instanceof Error ? `: ${last.message}` : ""));
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------------------------
// The server

const running = new Set(); // every child still alive, killed if this process exits early
const workDirs = new Set(); // removed at exit if a test left them behind
process.on("exit", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

// Sanitizer builds (`make test-sanitize`): a report in any server's output fails this file,
// even when every test passed, since a leak is only reported as the server exits.
const SANITIZER_REPORT = /^==\d+==ERROR: |^SUMMARY: \w+Sanitizer|: runtime error: |^WARNING: ThreadSanitizer/;
const sanitizerReports = new Set(); // servers whose output holds one
process.on("exit", () => {
  for (const server of sanitizerReports) {
    console.error(`---- sanitizer report in ssehub's output (${server.dataDir}) ----\n` +
                  `${server.logText()}\n---- end of log ----`);
    process.exitCode = 1;
  }
});

let serversOfThisFile = [];

/**
 * Prints the log of every server started in this file when a test fails. Call once at the
 * top of a test file.
 */
export function showServerLogsOnFailure() {
  afterEach((t) => {
    if (!t.passed) {
      for (const server of serversOfThisFile) {
        const text = server.logText().split("\n").slice(-120).join("\n");
        console.error(`---- ssehub log (${server.dataDir}), last lines ----\n${text}\n---- end of log ----`);
      }
    }
    // Servers disposed by a test's own hooks are kept until their log had this chance.
    serversOfThisFile = serversOfThisFile.filter((s) => !s.disposed);
  });
  // A test that failed before its own dispose() left its server running, and the server's
  // pipes would keep this file's process, and the whole suite, waiting forever.
  after(() => Promise.all(serversOfThisFile.filter((s) => !s.disposed).map((s) => s.dispose())));
}

class Server {
  // `launcher`: a command that execs the binary in place (["taskset", "-c", "0"]), so the
  // process keeps its pid.
  constructor(workDir, args, launcher = []) {
    this.workDir = workDir;
    this.dataDir = path.join(workDir, "data");
    this.args = args;
    this.launcher = launcher;
    this.port = 0;
    this.proc = null;
    this.starts = 0;
    this.lines = [];
    this.exit = null; // resolves with {code, signal} of the current child
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  logText() {
    return this.lines.join("\n");
  }

  /** Lines of the server's log (stdout and stderr) matching `pattern`. */
  logMatching(pattern) {
    return this.lines.filter((line) => pattern.test(line));
  }

  async start() {
    const deadline = Date.now() + BINARY_WAIT_MS;
    for (;;) {
      try {
        return await this.#startOnce();
      } catch (e) {
        // A missing or half-written binary (the lead rebuilding) is worth waiting for.
        const retriable = e.code === "ENOENT" || e.code === "ETXTBSY" || e.code === "EACCES";
        if (!retriable || Date.now() > deadline) throw e;
        this.lines.push(`==== cannot run ${BINARY} (${e.code}); retrying`);
        await sleep(500);
      }
    }
  }

  async #startOnce() {
    const portFile = path.join(this.workDir, `port-${++this.starts}`);
    const args = ["--port", String(this.port), "--port-file", portFile, "--data-dir", this.dataDir,
                  "--web-root", path.join(this.workDir, "no-web"), ...this.args];
    const command = [...this.launcher, BINARY, ...args];
    this.lines.push(`==== start #${this.starts}: ${command.join(" ")}`);
    const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const spawned = new Promise((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    await spawned;
    running.add(child);
    this.proc = child;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop();
        this.lines.push(...parts);
        if (parts.some((line) => SANITIZER_REPORT.test(line))) sanitizerReports.add(this);
      });
      stream.on("end", () => partial && this.lines.push(partial));
    }
    this.closed = new Promise((resolve) => child.once("close", resolve)); // output read to the end
    this.exit = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        running.delete(child);
        this.lines.push(`==== exited: code=${code} signal=${signal}`);
        resolve({ code, signal });
      });
    });
    let exited = null;
    this.exit.then((status) => (exited = status));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`ssehub exited at start (${JSON.stringify(exited)}):\n${this.logText()}`);
      if (existsSync(portFile)) {
        const text = await fs.readFile(portFile, "utf8");
        const port = Number.parseInt(text, 10);
        if (port > 0) {
          this.port = port;
          return this;
        }
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`ssehub wrote no port file within ${START_TIMEOUT_MS} ms:\n${this.logText()}`);
      }
      await sleep(20);
    }
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends `signal` and waits for the exit; returns {code, signal, ms}. Throws if it hangs. */
  async stop(signal = "SIGTERM", timeoutMs = STOP_TIMEOUT_MS) {
    if (!this.proc) return null;
    const started = Date.now();
    if (this.running) this.proc.kill(signal);
    try {
      const status = await within(timeoutMs, this.exit, `ssehub to exit after ${signal}`);
      const ms = Date.now() - started;
      // 'exit' may come before the last of its output was read: let logMatching() see it all.
      await Promise.race([this.closed, sleep(2_000)]);
      return { ...status, ms };
    } catch (e) {
      this.proc.kill("SIGKILL");
      await this.exit;
      throw e;
    }
  }

  /** Kills the process at once (a crash): nothing gets a chance to flush. */
  async kill9() {
    return this.stop("SIGKILL");
  }

  /** Stops (SIGTERM) if running, then starts again on the same port and data directory. */
  async restart() {
    if (this.running) await this.stop("SIGTERM");
    return this.start();
  }

  /** Stops the server however it takes and removes its directory. */
  async dispose() {
    if (this.running) {
      try {
        await this.stop("SIGTERM");
      } catch {}
    }
    if (this.running) await this.stop("SIGKILL");
    await Promise.race([this.closed, sleep(2_000)]);
    this.disposed = true;
    await fs.rm(this.workDir, { recursive: true, force: true });
    workDirs.delete(this.workDir);
  }
}

/**
 * Starts build/ssehub on a free port with a temporary data directory and FAST_ARGS plus
 * `args`. Returns a Server: {url, port, dataDir, proc, stop(signal), kill9(), restart(),
 * dispose(), logText()}.
 */
export async function startServer(args = [], { baseArgs = FAST_ARGS, launcher = [] } = {}) {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-it-"));
  workDirs.add(workDir);
  const server = new Server(workDir, [...baseArgs, ...args], launcher);
  serversOfThisFile.push(server);
  await server.start();
  return server;
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP

/**
 * One HTTP request on a connection of its own (or `agent`'s), from `localAddress` if given
 * (another 127.0.0.x is another client address). Resolves with
 * {status, headers, body, json}; `json` is the parsed body when it parses.
 */
export function request(url, { method = "GET", headers = {}, body, agent = false, timeout = 10_000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, localAddress }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, socket: req.socket });
      });
      res.on("error", reject);
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${url}: no answer in ${timeout} ms`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * POST /<api>/message?username=<user> with `body`. Resolves with {status, id, headers, json}
 * where `id` is X-Event-Id as a number (NaN when absent).
 */
export async function publish(url, user, body, { api = "v2", headers = {}, agent } = {}) {
  const res = await request(`${url}/${api}/message?username=${encodeURIComponent(user)}`, {
    method: "POST",
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
    body,
    agent,
  });
  return { ...res, id: Number(res.headers["x-event-id"]) };
}

/** Publishes and asserts 204; returns the event id. */
export async function publishOk(url, user, body, options) {
  const res = await publish(url, user, body, options);
  if (res.status !== 204) throw new Error(`publish to ${user} answered ${res.status}: ${res.body}`);
  return res.id;
}

/**
 * GET /metrics parsed into a Map from series (`name` or `name{label="v"}` as printed) to
 * number. `get(name, labels)` looks a series up; missing series read as undefined.
 */
export async function metrics(url) {
  const res = await request(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const map = parsePrometheus(res.body);
  map.contentType = res.headers["content-type"];
  map.text = res.body;
  return map;
}

export function parsePrometheus(text) {
  const map = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    map.set(match[1] + (match[2] ?? ""), Number(match[3]));
  }
  // Without labels: the series of that name alone, or the sum of its labelled series, as
  // PromQL's sum(name) would (ssehub_streams_open{protocol=...} read as one number).
  map.get = function get(name, labels) {
    if (!labels) {
      const alone = Map.prototype.get.call(this, name);
      if (alone !== undefined) return alone;
      let sum;
      for (const [series, value] of this) if (series.startsWith(`${name}{`)) sum = (sum ?? 0) + value;
      return sum;
    }
    const rendered = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
    return Map.prototype.get.call(this, `${name}{${rendered}}`);
  };
  return map;
}

/** Polls /metrics until `check(map)` is true; returns the map. */
export function metricsEventually(url, check, { timeout = 5_000, what = "metrics" } = {}) {
  return eventually(async () => {
    const m = await metrics(url);
    return check(m) ? m : false;
  }, { timeout, what });
}

// ---------------------------------------------------------------------------------------------
// SSE parsing (WHATWG HTML, "Interpreting an event stream")

/**
 * Feeds decoded text, emits events as the WHATWG algorithm dispatches them. Lines end in
 * CRLF, LF or CR; an event is dispatched at a blank line; an incomplete event at the end of
 * the stream is dropped.
 */
export class SseParser {
  constructor() {
    this.events = []; // {type, data, lastEventId, idField, at}
    this.comments = []; // {text, at}
    this.retries = []; // numbers
    this.lastEventId = ""; // as of the last dispatched event (what a client resumes from)
    this.listeners = [];
    this._buffer = "";
    this._data = "";
    this._type = "";
    this._idBuffer = "";
    this._idField = undefined;
    this._first = true;
    this._pendingCr = false;
  }

  feed(text) {
    if (this._first && text.length > 0) {
      this._first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let buffer = this._buffer + text;
    if (this._pendingCr && buffer.startsWith("\n")) buffer = buffer.slice(1);
    this._pendingCr = false;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      this._line(buffer.slice(start, i));
      if (c === "\r") {
        if (i + 1 < buffer.length) {
          if (buffer[i + 1] === "\n") i++;
        } else {
          this._pendingCr = true; // a LF at the start of the next chunk belongs to this CR
        }
      }
      start = i + 1;
    }
    this._buffer = buffer.slice(start);
    this._notify();
  }

  _line(line) {
    const at = Date.now();
    if (line === "") return this._dispatch(at);
    if (line.startsWith(":")) {
      this.comments.push({ text: line.slice(1).replace(/^ /, ""), at });
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event": this._type = value; break;
      case "data": this._data += value + "\n"; break;
      case "id":
        if (!value.includes("\0")) {
          this._idBuffer = value;
          this._idField = value;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retries.push(Number(value));
        break;
      default: break;
    }
  }

  _dispatch(at) {
    const idField = this._idField;
    this._idField = undefined;
    this.lastEventId = this._idBuffer;
    if (this._data === "") {
      this._type = "";
      return;
    }
    const data = this._data.endsWith("\n") ? this._data.slice(0, -1) : this._data;
    this.events.push({ type: this._type || "message", data, lastEventId: this._idBuffer, idField, at });
    this._data = "";
    this._type = "";
  }

  _notify() {
    for (const listener of [...this.listeners]) listener();
  }
}

/** What sse() and curlSse() share: a parser fed by some byte source, and ways to wait on it. */
class SseClient {
  constructor(what) {
    this.what = what;
    this.parser = new SseParser();
    this.decoder = new TextDecoder("utf-8");
    this.chunks = [];
    this.endedAt = null;
    this.endReason = null;
    this._endWaiters = [];
  }

  get events() {
    return this.parser.events;
  }
  get comments() {
    return this.parser.comments;
  }
  get retries() {
    return this.parser.retries;
  }
  get lastEventId() {
    return this.parser.lastEventId;
  }
  /** Every byte of the body received so far. */
  get raw() {
    return Buffer.concat(this.chunks);
  }
  get text() {
    return this.raw.toString("utf8");
  }
  /**
   * The body without keep-alive comments, which may fall between any two frames: a comment
   * line, which rides in the next event's block, or now and then one that ends its block.
   */
  get textWithoutKeepAlives() {
    return this.text.replaceAll(": keep-alive-text\n\n", "").replaceAll(": keep-alive-text\n", "");
  }
  /** Ids of the events that carried an id field, as numbers. */
  ids(type = "message") {
    return this.events.filter((e) => e.type === type && e.idField !== undefined).map((e) => Number(e.idField));
  }
  data(type = "message") {
    return this.events.filter((e) => e.type === type).map((e) => e.data);
  }
  get ended() {
    return this.endedAt !== null;
  }

  _feed(chunk) {
    this.chunks.push(chunk);
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
  }

  _end(reason) {
    if (this.endedAt !== null) return;
    this.endedAt = Date.now();
    this.endReason = reason;
    this.parser.feed(this.decoder.decode());
    this.parser._notify();
    for (const resolve of this._endWaiters) resolve(reason);
  }

  /** Resolves when `predicate(this)` holds; rejects after `timeout` or if the stream ends first. */
  waitFor(predicate, { timeout = 5_000, what = "condition" } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try {
          ok = predicate(this);
        } catch (e) {
          return finish(e);
        }
        if (ok) return finish(null);
        if (this.ended) {
          finish(new Error(`${this.what}: stream ended (${this.endReason}) before ${what}; ` +
                           `events so far: ${this.describe()}`));
        }
      };
      const finish = (error) => {
        clearTimeout(timer);
        this.parser.listeners = this.parser.listeners.filter((l) => l !== check);
        if (error) reject(error);
        else resolve(this);
      };
      const timer = setTimeout(() => finish(new Error(
        `${this.what}: timed out after ${timeout} ms waiting for ${what}; events so far: ${this.describe()}`)),
        timeout);
      this.parser.listeners.push(check);
      check();
    });
  }

  /** Waits until at least `n` events of `type` have arrived. */
  waitEvents(n, { type = "message", timeout = 5_000 } = {}) {
    return this.waitFor((c) => c.data(type).length >= n, { timeout, what: `${n} '${type}' events` });
  }

  /** Waits until an event with id `id` has arrived. */
  waitId(id, { timeout = 5_000 } = {}) {
    return this.waitFor((c) => c.ids().includes(id), { timeout, what: `event id ${id}` });
  }

  /** Resolves with the end reason ('end', 'close', 'error: ...') once the stream has ended. */
  waitEnd({ timeout = 5_000 } = {}) {
    if (this.ended) return Promise.resolve(this.endReason);
    return within(timeout, new Promise((resolve) => this._endWaiters.push(resolve)),
                  `${this.what} to end`);
  }

  describe() {
    const events = this.events.map((e) => `${e.idField ?? "-"}:${e.type}:${JSON.stringify(e.data).slice(0, 40)}`);
    return `[${events.slice(-20).join(", ")}] (${this.events.length} events, ${this.comments.length} comments)`;
  }
}

/**
 * Opens an SSE stream with node:http (a connection of its own) and parses it byte by byte.
 * Resolves once the response head has arrived. For a 200 the result streams; for any other
 * status it also carries {body, json} of the complete error response.
 */
export function sse(url, { headers = {}, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const client = new SseClient(`sse ${url}`);
    const req = http.get(url, { headers: { Accept: "text/event-stream", ...headers }, agent: false }, (res) => {
      clearTimeout(timer);
      client.status = res.statusCode;
      client.headers = res.headers;
      client.rawHeaders = res.rawHeaders;
      client.response = res;
      client.socket = res.socket;
      client.close = () => {
        req.destroy();
        client._end("closed by the test");
      };
      res.on("data", (chunk) => client._feed(chunk));
      res.on("end", () => client._end("end"));
      res.on("close", () => client._end(res.complete ? "end" : "close"));
      res.on("error", (e) => client._end(`error: ${e.message}`));
      if (res.statusCode === 200) return resolve(client);
      res.on("end", () => {
        client.body = client.text;
        try {
          client.json = JSON.parse(client.body);
        } catch {}
        resolve(client);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response head in ${timeout} ms`)), timeout);
    req.on("error", (e) => {
      clearTimeout(timer);
      if (client.status === undefined) reject(new Error(`GET ${url}: ${e.message}`));
      else client._end(`error: ${e.message}`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Commands (curl among them)

/** Runs a command to completion; resolves {code, stdout, stderr}; rejects after `timeout`. */
export function run(command, args, { timeout = 60_000, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: env ? { ...process.env, ...env } : process.env,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")}: no exit in ${timeout} ms\n${stdout}${stderr}`));
    }, timeout);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Runs curl to completion; resolves {code, stdout, stderr}. */
export function curl(args, { timeout = 15_000, input } = {}) {
  return run("curl", args, { timeout, input });
}

/**
 * Streams `url` with `curl -sN` (plus `args`), parsing what curl prints as SSE. With
 * `-i` among args the response head is split off into {status, headers}. close() kills curl.
 */
export function curlSse(url, args = []) {
  const client = new SseClient(`curl ${url}`);
  // The head is always read (and kept out of the body): `status` tells when the stream is open.
  const withHead = true;
  const curlArgs = args.includes("-i") ? args : ["-i", ...args];
  const child = spawn("curl", ["-sN", ...curlArgs, url], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  client.proc = child;
  client.stderr = "";
  let head = withHead ? Buffer.alloc(0) : null;
  child.stdout.on("data", (chunk) => {
    if (head !== null) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      client.statusLine = lines[0]; // "HTTP/1.1 200 OK", "HTTP/2 200"
      client.status = Number(lines[0].split(" ")[1]);
      client.headers = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        client.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      chunk = head.subarray(end + 4);
      head = null;
      client.parser._notify();
      if (chunk.length === 0) return;
    }
    client._feed(chunk);
  });
  child.stderr.on("data", (d) => (client.stderr += d));
  client.exit = new Promise((resolve) => {
    child.on("close", (code, signal) => {
      running.delete(child);
      client.exitCode = code;
      client._end(`curl exited (code=${code} signal=${signal})`);
      resolve({ code, signal });
    });
  });
  client.close = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return client.exit;
  };
  return client;
}

/** True when curl is on PATH (the tests that spawn it need it). */
export const haveCurl = spawnSync("curl", ["--version"]).status === 0;

// ---------------------------------------------------------------------------------------------
// The npm `eventsource` package (the WHATWG EventSource)

/**
 * Opens an EventSource on `url`, recording every `message` (and each of `types`) in order.
 * `headers` are added to every request it makes. hold() makes its next (re)connection wait
 * until release(); `requests` lists the headers of each request it started. `fetch` replaces
 * the global fetch (e.g. to send each reconnection to another server).
 */
export function eventSource(url, { headers = {}, types = [], fetch: doFetch = globalThis.fetch } = {}) {
  const client = new SseClient(`EventSource ${url}`);
  client.requests = [];
  client.errors = [];
  client.opens = 0;
  let gate = null;
  let openGate = null;
  client.hold = () => {
    gate = new Promise((resolve) => (openGate = resolve));
  };
  client.release = () => {
    gate = null;
    openGate?.();
  };
  const es = new EventSource(url, {
    fetch: async (input, init) => {
      client.requests.push({ headers: { ...init.headers }, at: Date.now() });
      client.parser._notify();
      if (gate) await gate;
      return doFetch(input, { ...init, headers: { ...init.headers, ...headers } });
    },
  });
  const record = (type) => (event) => {
    client.parser.events.push({ type, data: event.data, lastEventId: event.lastEventId,
                                idField: event.lastEventId === "" ? undefined : event.lastEventId,
                                at: Date.now() });
    client.parser._notify();
  };
  es.addEventListener("message", record("message"));
  for (const type of types) es.addEventListener(type, record(type));
  es.addEventListener("open", () => {
    client.opens++;
    client.parser._notify();
  });
  es.addEventListener("error", (event) => {
    client.errors.push(event.message ?? "error");
    client.parser._notify();
  });
  client.es = es;
  client.close = () => es.close();
  return client;
}

// ---------------------------------------------------------------------------------------------
// Misc

/** Distinct user name per call, so tests sharing a server never share a stream. */
let userCounter = 0;
export function uniqueUser(prefix = "user") {
  return `${prefix}-${process.pid}-${++userCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** [from, from+1, ..., to] */
export function range(from, to) {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** A TCP port nothing listens on at the moment of the call. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET /readyz: {status, json}. */
export async function readyz(server) {
  const res = await request(`${server.url}/readyz`, { timeout: 5_000 });
  return { status: res.status, json: res.json };
}
