// The web UI's files: security headers, the single-page fallback only for page navigations,
// and symbolic links in --web-root served under their own name or not at all.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { request, showServerLogsOnFailure, startServer, within } from "./lib/server.mjs";

showServerLogsOnFailure();

const INDEX = "<!doctype html><title>the page</title>";
// Larger than loopback's socket buffers on both sides, in a pattern that shows any byte out
// of place.
const BIG = Buffer.alloc(8 << 20, 0).map((_, i) => (i * 7 + (i >> 13)) & 0xff);

describe("static files", () => {
  let server, root, outside;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-web-"));
    outside = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-outside-"));
    await fs.mkdir(path.join(root, "assets"));
    await fs.writeFile(path.join(root, "index.html"), INDEX);
    await fs.writeFile(path.join(root, "favicon.ico"), Buffer.from([0, 0, 1, 0]));
    await fs.writeFile(path.join(root, "assets", "app-1234.js"), "console.log('app');");
    await fs.writeFile(path.join(outside, "secret.txt"), "do not serve me");
    await fs.writeFile(path.join(root, "big.bin"), BIG);
    // Inside the root: served under the link's name. Outside: never served.
    await fs.symlink(path.join(root, "assets", "app-1234.js"), path.join(root, "latest.js"));
    await fs.symlink(path.join(outside, "secret.txt"), path.join(root, "secret.txt"));
    await fs.symlink(outside, path.join(root, "linked-dir"));
    server = await startServer(["--web-root", root]);
  });

  after(async () => {
    await server?.dispose();
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(outside, { recursive: true, force: true });
  });

  it("sends a content security policy that forbids framing, with X-Frame-Options and Referrer-Policy", async () => {
    for (const file of ["/", "/index.html", "/assets/app-1234.js", "/reports/some/page"]) {
      const res = await request(`${server.url}${file}`, { headers: { Accept: "text/html" } });
      assert.equal(res.status, 200, file);
      const csp = res.headers["content-security-policy"] ?? "";
      assert.match(csp, /frame-ancestors 'none'/, file);
      assert.match(csp, /script-src 'self'(;|$)/, file);
      assert.match(csp, /style-src 'self'(;|$)/, file);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, file);
      assert.equal(res.headers["x-frame-options"], "DENY", file);
      assert.equal(res.headers["referrer-policy"], "no-referrer", file);
      assert.equal(res.headers["x-content-type-options"], "nosniff", file);
    }
  });

  it("serves index.html for a page navigation to an unknown path", async () => {
    for (const accept of ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*", undefined]) {
      const headers = accept ? { Accept: accept } : {};
      const res = await request(`${server.url}/reports/42`, { headers });
      assert.equal(res.status, 200, `Accept: ${accept}`);
      assert.equal(res.body, INDEX);
      assert.match(res.headers["content-type"], /^text\/html/);
    }
  });

  it("answers the JSON 404 for an unknown file, a JSON request or an API path, never the page", async () => {
    const cases = [
      ["/favicon.png", "text/html"],
      ["/x.js", "*/*"],
      ["/some/dir/style.css", undefined],
      ["/assets/missing-5678.js", "*/*"],
      ["/reports/42", "application/json"],
      ["/v2", "text/html"],
      ["/v2/unknown", "text/html"],
      ["/v4/nothing/here", "*/*"],
      ["/api/anything", "text/html"],
      ["/metrics/extra", "text/html"],
    ];
    for (const [target, accept] of cases) {
      const res = await request(`${server.url}${target}`, { headers: accept ? { Accept: accept } : {} });
      assert.equal(res.status, 404, `${target} (Accept: ${accept})`);
      assert.match(res.headers["content-type"], /^application\/json/, target);
      assert.equal(res.json?.error, "not_found", target);
      assert.notEqual(res.body, INDEX, target);
    }
  });

  it("sends a file larger than the socket buffers whole to a client that reads late, then its next request", async () => {
    // The server writes what the socket takes at once and the rest asynchronously: the rest
    // must start where the first write stopped, and the connection go on once it is sent.
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.pause();
    const chunks = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                 "GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    await new Promise((r) => setTimeout(r, 500));  // the server's first write is cut short meanwhile
    socket.resume();
    await within(20_000, closed, "the server to close after the second answer");
    const received = Buffer.concat(chunks);
    const headEnd = received.indexOf("\r\n\r\n");
    const head = received.subarray(0, headEnd).toString("latin1");
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, new RegExp(`\r\ncontent-length: ${BIG.length}\r\n`, "i"));
    const body = received.subarray(headEnd + 4, headEnd + 4 + BIG.length);
    assert.equal(body.length, BIG.length, "the whole body");
    assert.ok(body.equals(BIG), "every byte in place");
    const next = received.subarray(headEnd + 4 + BIG.length).toString("latin1");
    assert.match(next, /^HTTP\/1\.1 200 /, "the next request's answer follows the body");
  });

  it("serves a file that exists under its name, favicon.ico included", async () => {
    const icon = await request(`${server.url}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers["content-type"], "image/x-icon");
  });

  it("serves a link inside the root under its own name, and no link that leaves the root", async () => {
    const latest = await request(`${server.url}/latest.js`);
    assert.equal(latest.status, 200);
    assert.equal(latest.body, "console.log('app');");
    for (const target of ["/secret.txt", "/linked-dir/secret.txt", "/../outside/secret.txt"]) {
      const res = await request(`${server.url}${target}`);
      assert.equal(res.status, 404, target);
      assert.doesNotMatch(res.body, /do not serve me/, target);
    }
    const skipped = server.logMatching(/web: skipping .*secret\.txt/);
    assert.equal(skipped.length, 1, `one warning for the outside link:\n${server.logText()}`);
  });
});
