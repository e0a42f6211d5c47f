// Out of file descriptors: ssehub keeps serving the connections it has, pauses accepting, and
// says so in its log at most once a second (with a count), not once per failed accept.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BINARY, FAST_ARGS, eventually, request, sleep } from "./lib/server.mjs";

const T = { timeout: 60_000 };

describe("file descriptor exhaustion", () => {
  it("AcceptFailuresAreLoggedAtMostOnceASecondWithACount", T, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-fd-"));
    const portFile = path.join(dir, "port");
    // 64 descriptors: the process's own files and threads take some, a few dozen clients the rest.
    const child = spawn("bash", ["-c", `ulimit -n 64 && exec "$0" "$@"`, BINARY, ...FAST_ARGS,
                                 "--port", "0", "--port-file", portFile, "--data-dir", path.join(dir, "data"),
                                 "--web-root", path.join(dir, "no-web")],
                        { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const sockets = [];
    try {
      const port = await eventually(async () => Number(await fs.readFile(portFile, "utf8").catch(() => "")),
                                    { timeout: 15_000, what: "the port file" });
      const url = `http://127.0.0.1:${port}`;
      const kept = await request(`${url}/healthz`, { agent: new (await import("node:http")).Agent({ keepAlive: true }) });
      assert.equal(kept.status, 200);
      // Far more connections than descriptors, held open for three seconds.
      for (let i = 0; i < 150; i++) {
        const socket = net.connect(port, "127.0.0.1");
        socket.on("error", () => {});
        sockets.push(socket);
      }
      await sleep(3_000);
      const warnings = log.split("\n").filter((line) => /accept failed/.test(line));
      assert.ok(warnings.length >= 1, `no accept warning:\n${log}`);
      assert.ok(warnings.length <= 5, `${warnings.length} warnings in 3 s:\n${warnings.join("\n")}`);
      assert.ok(warnings.some((line) => /accept failed \d+ time\(s\) in the last second/.test(line)), warnings[0]);
      // Once clients go, ssehub serves again.
      for (const socket of sockets) socket.destroy();
      await eventually(async () => (await request(`${url}/healthz`)).status === 200,
                       { timeout: 10_000, what: "a new connection to be served" });
    } catch (e) {
      e.message += `\nssehub's output:\n${log}`;
      throw e;
    } finally {
      for (const socket of sockets) socket.destroy();
      child.kill("SIGKILL");
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
