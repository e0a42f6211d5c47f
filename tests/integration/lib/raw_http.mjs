// A hostile client's tools: raw TCP connections that send exactly the bytes a test writes
// (no HTTP library between, so nothing gets normalised), a reader of the responses that come
// back, and a sampler of the server's resident memory while an attack runs.

import { readFileSync } from "node:fs";
import net from "node:net";
import { sleep, within } from "./server.mjs";

const CRLF = "\r\n";

/**
 * An HTTP/1.1 request as bytes: `lines` are the request line and header lines (joined with
 * CRLF, the blank line added), then `body` (string or Buffer) as is.
 */
export function httpRequest(lines, body = "") {
  return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF, "latin1"),
                        Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1")]);
}

/** A chunked body of `pieces` (strings), each its own chunk, with `trailers` after the last. */
export function chunked(pieces, trailers = []) {
  let text = "";
  for (const piece of pieces) text += Buffer.byteLength(piece, "latin1").toString(16) + CRLF + piece + CRLF;
  return text + "0" + CRLF + trailers.map((t) => t + CRLF).join("") + CRLF;
}

/**
 * One raw connection. `responses()` parses what the server sent into HTTP responses
 * ({status, headers, rawHead, body, json}); `ended` resolves once the server closed its side.
 */
export class RawConnection {
  static async open(port, host = "127.0.0.1") {
    const socket = net.connect(port, host);
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawConnection(socket);
  }

  constructor(socket) {
    this.socket = socket;
    this.received = Buffer.alloc(0);
    this.bytesSent = 0;
    this.writeError = null;
    this.peerEnded = false; // the server sent FIN (or reset)
    this._waiters = [];
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      this.received = Buffer.concat([this.received, chunk]);
      this._notify();
    });
    const ended = () => {
      this.peerEnded = true;
      this._notify();
    };
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", (e) => {
      this.writeError ??= e;
      ended();
    });
    this._offset = 0; // bytes of `received` already parsed into responses
  }

  _notify() {
    for (const waiter of [...this._waiters]) waiter();
  }

  /** Resolves when `predicate()` holds; rejects after `timeout` ms. */
  waitUntil(predicate, timeout, what) {
    return within(timeout, new Promise((resolve) => {
      const check = () => {
        if (!predicate()) return;
        this._waiters = this._waiters.filter((w) => w !== check);
        resolve();
      };
      this._waiters.push(check);
      check();
    }), what);
  }

  /** Writes `data`; resolves once the kernel took it, or false when the connection broke. */
  send(data) {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve(false);
    const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data, "latin1");
    return new Promise((resolve) => {
      this.socket.write(buffer, (error) => {
        if (!error) this.bytesSent += buffer.length;
        resolve(!error);
      });
    });
  }

  /**
   * Sends `total` bytes made by `piece(i)` (a Buffer or string per call), waiting for each
   * write to drain; stops early when the server closes, or (`untilAnswered`) answers.
   * Resolves with the bytes sent.
   */
  async stream(total, piece, { untilAnswered = true } = {}) {
    let sent = 0;
    for (let i = 0; sent < total; i++) {
      if ((untilAnswered && this.received.length > this._offset) || this.peerEnded) break;
      const data = piece(i);
      if (!(await this.send(data))) break;
      sent += data.length;
    }
    return sent;
  }

  /**
   * The next complete response. `head`: the request was HEAD (no body whatever the head
   * says); `headOnly`: return at the end of the head and leave the body (a stream) unread.
   */
  async nextResponse({ timeout = 10_000, head = false, headOnly = false } = {}) {
    let parsed = null;
    await this.waitUntil(() => (parsed = this._parse({ head, headOnly })) !== null || this.peerEnded,
                         timeout, "a response");
    parsed ??= this._parse({ head, headOnly, atEnd: true });
    if (!parsed) {
      const rest = this.received.subarray(this._offset).toString("latin1");
      throw new Error(`the connection ended without a (complete) response; received: ${JSON.stringify(rest.slice(0, 300))}`);
    }
    return parsed;
  }

  /** Every complete response the server sent, once it closed (or `timeout` passed). */
  async allResponses({ timeout = 10_000 } = {}) {
    await this.waitUntil(() => this.peerEnded, timeout, "the server to close").catch(() => {});
    const responses = [];
    for (let r; (r = this._parse({ atEnd: this.peerEnded })) !== null;) responses.push(r);
    return responses;
  }

  /** Whatever the server sent after the responses parsed so far. */
  get unparsed() {
    return this.received.subarray(this._offset);
  }

  _parse({ head = false, headOnly = false, atEnd = false }) {
    const data = this.received;
    const start = this._offset;
    const headEnd = data.indexOf("\r\n\r\n", start);
    if (headEnd < 0) return null;
    const rawHead = data.subarray(start, headEnd).toString("latin1");
    const [statusLine, ...fieldLines] = rawHead.split("\r\n");
    const match = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
    const status = Number(match[2]);
    const headers = {};
    const fieldList = [];
    for (const line of fieldLines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      fieldList.push([name, value]);
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    let bodyStart = headEnd + 4;
    let body = Buffer.alloc(0);
    let end = bodyStart;
    const noBody = head || status < 200 || status === 204 || status === 304;
    if (headOnly || noBody) {
      end = bodyStart;
    } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const pieces = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = data.indexOf("\r\n", at);
        if (lineEnd < 0) return null;
        const size = Number.parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
        if (data.length < lineEnd + 2 + size + 2) return null;
        pieces.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(pieces);
      end = at;
    } else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (data.length < bodyStart + length) return null;
      body = data.subarray(bodyStart, bodyStart + length);
      end = bodyStart + length;
    } else {
      if (!atEnd) return null; // the body ends with the connection
      body = data.subarray(bodyStart);
      end = data.length;
    }
    this._offset = end;
    const text = body.toString("utf8");
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { version: match[1], status, headers, fieldList, rawHead, body, text, json };
  }

  /** Resolves true once the server has closed its side, false if it has not within `timeout`. */
  async closedWithin(timeout) {
    try {
      await this.waitUntil(() => this.peerEnded, timeout, "the server to close");
      return true;
    } catch {
      return false;
    }
  }

  pause() {
    this.socket.pause();
  }

  destroy() {
    this.socket.destroy();
  }
}

/**
 * Sends `bytes` on a fresh connection and returns {responses, closed, connection}: the
 * responses the server sent until it closed the connection (or until `responses` of them
 * arrived, when given), and whether it closed it within `timeout`.
 */
export async function exchange(port, bytes, { timeout = 3_000, responses: wanted } = {}) {
  const connection = await RawConnection.open(port);
  await connection.send(bytes);
  const responses = [];
  const collect = () => {
    for (let r; (r = connection._parse({ atEnd: connection.peerEnded })) !== null;) responses.push(r);
  };
  try {
    await connection.waitUntil(() => {
      collect();
      return connection.peerEnded || (wanted !== undefined && responses.length >= wanted);
    }, timeout, "the server's answers");
  } catch {}
  collect();
  const closed = connection.peerEnded;
  connection.destroy();
  return { responses, closed, connection };
}

// ---------------------------------------------------------------------------------------------
// The server's memory

/** VmRSS of process `pid` in bytes (Linux). */
export function residentBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Samples the resident memory of `pid` every `interval` ms while `attack()` runs; resolves
 * with {result, error, baseline, peak, growth} (bytes; growth = peak - baseline), `error`
 * being what `attack` threw, if it did: the figure is worth having either way.
 */
export async function measureResident(pid, attack, { interval = 10 } = {}) {
  await sleep(50);
  const baseline = residentBytes(pid);
  let peak = baseline;
  const sample = () => {
    try {
      peak = Math.max(peak, residentBytes(pid));
    } catch {} // the process has exited
  };
  const timer = setInterval(sample, interval);
  let result;
  let error;
  try {
    result = await attack();
  } catch (e) {
    error = e;
  } finally {
    clearInterval(timer);
  }
  sample();
  return { result, error, baseline, peak, growth: peak - baseline };
}

export const MiB = 1024 * 1024;
export const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
