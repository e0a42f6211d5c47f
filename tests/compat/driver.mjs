// The harness's side of a driver: starts one client's driver program on a URL and collects the
// JSON lines it prints, each stamped with the time it arrived.

import { spawn } from "node:child_process";

const started = new Set(); // process groups still alive, killed if the harness exits early
process.on("exit", () => {
  for (const pid of started) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

export class Driver {
  /** Starts `client`'s driver on `url`, with `lastEventId` as the id to start after (if any). */
  constructor(client, url, lastEventId) {
    this.client = client;
    this.url = url;
    this.lines = []; // {at, ...the printed object}
    this.stderr = "";
    this.exited = null;
    this.listeners = new Set();
    const [command, ...args] = client.argv;
    // A process group of its own, so that stop() also ends what it started (a browser).
    this.proc = spawn(command, [...args, url, ...(lastEventId ? [lastEventId] : [])],
                      { stdio: ["ignore", "pipe", "pipe"], detached: true });
    started.add(this.proc.pid);
    let partial = "";
    this.proc.stdout.setEncoding("utf8");
    this.proc.stdout.on("data", (chunk) => {
      const at = Date.now();
      const parts = (partial + chunk).split("\n");
      partial = parts.pop();
      for (const text of parts) {
        let obj;
        try {
          obj = JSON.parse(text);
        } catch {
          obj = { status: "garbage", detail: text };
        }
        this.lines.push({ at, ...obj });
      }
      this.#notify();
    });
    this.proc.stderr.setEncoding("utf8");
    this.proc.stderr.on("data", (chunk) => (this.stderr = (this.stderr + chunk).slice(-20_000)));
    this.exitedPromise = new Promise((resolve) => {
      this.proc.on("error", (e) => {
        this.exited = { error: e.message };
        this.#notify();
        resolve();
      });
      this.proc.on("exit", (code, signal) => {
        started.delete(this.proc.pid);
        this.exited = { code, signal };
        this.#notify();
        resolve();
      });
    });
  }

  /** The client and version it named, once it did. */
  get hello() {
    return this.lines.find((l) => "client" in l);
  }

  /** Every event the client dispatched: {at, type, id, data}, type "message" when it gave none. */
  get events() {
    return this.lines.filter((l) => "data" in l)
      .map((l) => ({ at: l.at, type: l.type || "message", id: l.id ?? "", data: l.data }));
  }

  get messages() {
    return this.events.filter((e) => e.type === "message");
  }

  /** Resolves with `predicate(this)`'s first truthy value; rejects after `timeout` ms. */
  waitFor(predicate, { timeout = 5_000, what = "condition" } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = predicate(this);
        if (value) {
          done();
          resolve(value);
        } else if (this.exited) {
          done();
          reject(new Error(`the driver exited (${JSON.stringify(this.exited)}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`not within ${timeout} ms: ${what}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for a message with exactly `data`; resolves with it. */
  waitMessage(data, options = {}) {
    return this.waitFor((d) => d.messages.find((m) => m.data === data),
                        { what: `message ${JSON.stringify(data.slice(0, 40))}`, ...options });
  }

  /** Ends the driver and everything it started. */
  async stop() {
    if (this.exited) return;
    try {
      process.kill(-this.proc.pid, "SIGTERM");
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-this.proc.pid, "SIGKILL");
      } catch {}
    }, 3_000);
    await this.exitedPromise;
    clearTimeout(timer);
    try {
      process.kill(-this.proc.pid, "SIGKILL"); // anything of the group still left
    } catch {}
  }

  /** The last lines it printed and of its stderr, for a failure message. */
  describe(n = 12) {
    const shown = this.lines.slice(-n).map(({ at, ...rest }) => {
      const text = JSON.stringify(rest);
      return text.length > 200 ? `${text.slice(0, 200)}…` : text;
    });
    const stderr = this.stderr.trim().split("\n").slice(-12).join("\n    ");
    return `${this.client.id} on ${this.url}: ${this.lines.length} lines, last: \n    ${shown.join("\n    ")}` +
      (stderr ? `\n  stderr:\n    ${stderr}` : "") +
      (this.exited ? `\n  exited: ${JSON.stringify(this.exited)}` : "");
  }

  #notify() {
    for (const listener of [...this.listeners]) listener();
  }
}
