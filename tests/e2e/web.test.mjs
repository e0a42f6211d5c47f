// End-to-end test of the report status page: the real binary serving web/dist, driven by
// Debian's Chromium through playwright-core.
//
// Needs build/ssehub, a built web/dist (`cd web && npm run build`) and /usr/bin/chromium
// (`apt-get install -y chromium`). SSEHUB_BIN, SSEHUB_UPDATE_SCRIPT and CHROMIUM_PATH override
// where the binary, scripts/update_report_status.sh and Chromium are found. The screenshots go
// to the test's work directory, so a test run leaves the checkout as it was; to refresh README's:
// `SSEHUB_SCREENSHOTS_DIR=$PWD/docs/screenshots node --test tests/e2e/` (from the root).
//
// The steps run in order against one server and one browser: each builds on the page left by
// the one before, as a person using the app would.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BINARY = process.env.SSEHUB_BIN ?? path.join(ROOT, "build/ssehub");
const UPDATE_SCRIPT = process.env.SSEHUB_UPDATE_SCRIPT ?? path.join(ROOT, "scripts/update_report_status.sh");
const WEB_ROOT = path.join(ROOT, "web/dist");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STEP_TIMEOUT = 60_000; // one test step, start to end
const WAIT = 10_000; // one thing to appear on a page

// ---- the server ----

class Server {
  constructor(dataDir, workDir) {
    this.dataDir = dataDir;
    this.workDir = workDir;
    this.child = null;
    this.port = 0;
    this.log = "";
    this.starts = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the binary, on a free port the first time and on the same port after that. */
  async start() {
    const portFile = path.join(this.workDir, `port-${++this.starts}`);
    const child = spawn(
      BINARY,
      [
        "--port", String(this.port),
        "--port-file", portFile,
        "--data-dir", this.dataDir,
        "--web-root", WEB_ROOT,
        "--keepalive-ms", "1000",
        "--retry-ms", "1000",
        "--log-level", "info",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    const collect = (chunk) => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    let exited = null;
    child.once("exit", (code, signal) => {
      exited = { code, signal };
    });

    const deadline = Date.now() + WAIT;
    for (;;) {
      if (exited) throw new Error(`ssehub exited at start (${JSON.stringify(exited)}):\n${this.log}`);
      const text = await fs.readFile(portFile, "utf8").catch(() => "");
      if (/^\d+\s*$/.test(text)) {
        this.port = Number(text.trim());
        break;
      }
      if (Date.now() > deadline) throw new Error(`ssehub wrote no port file within ${WAIT} ms:\n${this.log}`);
      await sleep(50);
    }
    // Ready when it answers an API call.
    await until(async () => (await fetch(`${this.url}/v4/reports?user_id=${crypto.randomUUID()}`)).ok, "the server answers /v4/reports");
  }

  /** SIGTERM, then SIGKILL if it has not exited in 5 s. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  async metric(name) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(" ").at(-1)) : NaN;
  }
}

// ---- helpers ----

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true; fails after `timeout` ms naming what was awaited. */
async function until(check, what, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}${last ? `: ${last.message}` : ""}`);
    await sleep(100);
  }
}

/** Runs scripts/update_report_status.sh against the test server, as an operator would. */
function updateStatus(server, userId, reportId, status) {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [UPDATE_SCRIPT, userId, reportId, status],
      { env: { ...process.env, SSEHUB_URL: server.url }, timeout: 10_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

const row = (page, reportId) => page.locator(`tbody tr[data-report-id="${reportId}"]`);

/** Waits until the page shows the report with the status, as a badge with its name. */
async function expectStatus(page, reportId, status, timeout = WAIT) {
  await row(page, reportId).locator(`.badge--${status}`).waitFor({ timeout });
  const label = await row(page, reportId).locator(".badge").innerText();
  assert.equal(label.trim().toLowerCase(), status);
}

async function transitionButtons(page, reportId) {
  return row(page, reportId).locator("button[data-transition]").evaluateAll((buttons) => buttons.map((b) => b.dataset.transition));
}

const liveRole = (page) => page.locator(".app").getAttribute("data-live-role");
const connection = (page) => page.locator(".app").getAttribute("data-connection");

async function waitLive(page, timeout = WAIT) {
  await page.locator('.app[data-connection="live"]').waitFor({ timeout });
}

// ---- the test ----

describe("report status page", { timeout: 10 * STEP_TIMEOUT }, () => {
  let workDir;
  let server;
  let browser;
  let context;
  const pages = [];
  const consoleErrors = [];
  let expectedNetworkErrors = null; // a RegExp while errors like it are expected
  let userId;
  let first; // the first tab
  let reportA;
  let reportB;

  function watch(page, name) {
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = message.text();
      if (expectedNetworkErrors?.test(text)) return;
      consoleErrors.push(`${name}: ${text}`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`${name}: uncaught ${error.message}`));
  }

  async function openTab(name) {
    const page = await context.newPage();
    watch(page, name);
    pages.push(page);
    await page.goto(server.url);
    return page;
  }

  function openPages() {
    return pages.filter((p) => !p.isClosed());
  }

  function assertNoConsoleErrors() {
    assert.deepEqual(consoleErrors, [], "the browser console logged errors");
  }

  before(async () => {
    for (const [what, file] of [
      ["the ssehub binary", BINARY],
      ["the built web UI (cd web && npm run build)", path.join(WEB_ROOT, "index.html")],
      ["scripts/update_report_status.sh", UPDATE_SCRIPT],
      ["Chromium (apt-get install -y chromium)", CHROMIUM],
    ]) {
      assert.ok(existsSync(file), `${what} is missing: ${file}`);
    }
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), "ssehub-e2e-"));
    server = new Server(path.join(workDir, "data"), workDir);
    await server.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    });
    // One context: its tabs share localStorage, BroadcastChannel and Web Locks, like the tabs
    // of one browser profile. launch() gives it a fresh temporary profile.
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(WAIT);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    if (server?.child && server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it("asks for a user id when there is none, refuses one that is not a UUID, then signs in with a generated one", { timeout: STEP_TIMEOUT }, async () => {
    first = await openTab("tab1");
    const field = first.getByLabel("User ID");
    const signIn = first.getByRole("button", { name: "Sign in" });
    /** The error the field shows, read as a screen reader would: through aria-describedby. */
    const fieldError = () =>
      field.evaluate((input) => {
        const ids = (input.getAttribute("aria-describedby") ?? "").split(/\s+/);
        const error = ids.map((id) => document.getElementById(id)).find((element) => element?.getAttribute("role") === "alert");
        return error?.textContent.trim() ?? "";
      });

    for (const blank of ["", "   "]) {
      await field.fill(blank);
      await signIn.click();
      await until(async () => (await fieldError()) !== "", "the empty field shows an error");
      const empty = await fieldError();
      assert.match(empty, /enter your user id/i, `for ${JSON.stringify(blank)}`);
      assert.doesNotMatch(empty, /UUID/, "an empty field is told about UUIDs");
      assert.equal(await field.getAttribute("aria-invalid"), "true");
    }

    await field.fill("not-a-uuid");
    await until(async () => (await fieldError()) === "", "typing clears the error");
    await signIn.click();
    await until(async () => (await fieldError()) !== "", "the malformed id shows an error");
    const malformed = await fieldError();
    assert.match(malformed, /not a valid user id.*UUID/i);
    assert.equal(await field.getAttribute("aria-invalid"), "true");
    assert.equal(await first.locator(".app").count(), 0, "signed in with an invalid id");

    await first.getByRole("button", { name: "Generate new ID" }).click();
    userId = await field.inputValue();
    assert.match(userId, UUID);
    await signIn.click();
    await first.getByTestId("user-id").waitFor();
    assert.equal(await first.getByTestId("user-id").innerText(), userId);
    await waitLive(first);
    await first.getByText("No reports yet").waitFor();
    const status = first.getByRole("status");
    assert.equal(await status.getAttribute("aria-live"), "polite");
    assert.match(await status.innerText(), /Live/);
  });

  it("remembers the user across a reload", { timeout: STEP_TIMEOUT }, async () => {
    await first.reload();
    await waitLive(first);
    assert.equal(await first.getByTestId("user-id").innerText(), userId);
  });

  it("creates two reports, shown at once as pending with only their valid transitions", { timeout: STEP_TIMEOUT }, async () => {
    const create = first.getByRole("button", { name: "Create New Report" });
    await create.click();
    await first.locator("tbody tr").first().waitFor();
    await create.click();
    await until(async () => (await first.locator("tbody tr").count()) === 2, "two reports are listed");
    // Newest first.
    reportB = await first.locator("tbody tr").nth(0).getAttribute("data-report-id");
    reportA = await first.locator("tbody tr").nth(1).getAttribute("data-report-id");
    assert.match(reportA, UUID);
    assert.match(reportB, UUID);
    assert.notEqual(reportA, reportB);
    for (const id of [reportA, reportB]) {
      await expectStatus(first, id, "pending");
      assert.deepEqual(await transitionButtons(first, id), ["queued", "canceled"]);
    }
    // The server agrees.
    const listed = await (await fetch(`${server.url}/v4/reports?user_id=${userId}`)).json();
    assert.deepEqual(listed.map((r) => r.reportId).sort(), [reportA, reportB].sort());
  });

  it("shows a change made by update_report_status.sh without a reload", { timeout: STEP_TIMEOUT }, async () => {
    await first.evaluate(() => {
      window.__sameDocument = true;
    });
    await updateStatus(server, userId, reportA, "queued");
    await expectStatus(first, reportA, "queued");
    assert.deepEqual(await transitionButtons(first, reportA), ["processing", "canceled"]);
    assert.equal(await first.evaluate(() => window.__sameDocument), true, "the page was reloaded");
    await expectStatus(first, reportB, "pending");
  });

  it("changes a status with a transition button, from the keyboard", { timeout: STEP_TIMEOUT }, async () => {
    await row(first, reportA).getByRole("button", { name: "Start" }).focus();
    await first.keyboard.press("Enter");
    await expectStatus(first, reportA, "processing");
    assert.deepEqual(await transitionButtons(first, reportA), ["completed", "failed"]);
    // The pressed button is gone; focus stays in the report's row instead of jumping to the top.
    await until(
      async () => (await first.evaluate(() => document.activeElement?.closest("tr")?.dataset.reportId)) === reportA,
      "focus is back in the changed report's row",
    );
    const listed = await (await fetch(`${server.url}/v4/reports?user_id=${userId}`)).json();
    assert.equal(listed.find((r) => r.reportId === reportA).reportStatus, "processing");
  });

  it("shows the server's error when a change is refused", { timeout: STEP_TIMEOUT }, async () => {
    // Rewrite the next PUT into a transition the state machine forbids (pending -> completed),
    // so the real server answers 409 and the page must show its explanation.
    await first.route("**/v4/report?*", async (route) => {
      await route.continue({ postData: JSON.stringify({ id: reportB, status: "completed" }) });
    });
    expectedNetworkErrors = /status of 409/;
    try {
      await row(first, reportB).getByRole("button", { name: "Queue" }).click();
      const error = first.getByTestId("error");
      await error.waitFor();
      const text = await error.innerText();
      assert.match(text, /Could not set report/);
      const detail = (await error.locator(".notice__detail").innerText()).trim();
      assert.ok(detail.length > 0, "the error shows no detail from the server");
      await expectStatus(first, reportB, "pending");
      await error.getByRole("button", { name: /Dismiss/ }).click();
      await until(async () => (await first.getByTestId("error").count()) === 0, "the error is dismissed");
    } finally {
      await first.unroute("**/v4/report?*");
      expectedNetworkErrors = null;
    }
    assertNoConsoleErrors();
  });

  it("keeps a second tab in step, both ways", { timeout: STEP_TIMEOUT }, async () => {
    const second = await openTab("tab2");
    await waitLive(second);
    assert.equal(await liveRole(first), "leader");
    assert.equal(await liveRole(second), "follower");
    await expectStatus(second, reportA, "processing");
    await expectStatus(second, reportB, "pending");

    await row(first, reportA).getByRole("button", { name: "Complete" }).click();
    await expectStatus(second, reportA, "completed");
    assert.deepEqual(await transitionButtons(second, reportA), []);

    await row(second, reportB).getByRole("button", { name: "Queue" }).click();
    await expectStatus(first, reportB, "queued");
    await updateStatus(server, userId, reportB, "canceled");
    await expectStatus(first, reportB, "canceled");
    await expectStatus(second, reportB, "canceled");
  });

  it("serves eight tabs over one stream, and every tab updates", { timeout: STEP_TIMEOUT }, async () => {
    while (openPages().length < 8) await openTab(`tab${pages.length + 1}`);
    const tabs = openPages();
    for (const page of tabs) await waitLive(page);
    const roles = await Promise.all(tabs.map(liveRole));
    assert.equal(roles.filter((r) => r === "leader").length, 1, `roles: ${roles}`);
    assert.equal(roles.filter((r) => r === "follower").length, 7, `roles: ${roles}`);
    await until(async () => (await server.metric("ssehub_streams_open")) === 1, "the server holds exactly one stream");

    await updateStatus(server, userId, reportB, "pending");
    for (const page of tabs) await expectStatus(page, reportB, "pending");
    // And a report created in one tab appears in all.
    await tabs[5].getByRole("button", { name: "Create New Report" }).click();
    for (const page of tabs) await until(async () => (await page.locator("tbody tr").count()) === 3, "every tab lists three reports");
  });

  it("hands the stream to another tab when the leader closes", { timeout: STEP_TIMEOUT }, async () => {
    const tabs = openPages();
    const roles = await Promise.all(tabs.map(liveRole));
    const leader = tabs[roles.indexOf("leader")];
    await leader.close();
    const rest = openPages();
    assert.equal(rest.length, 7);
    await until(async () => (await Promise.all(rest.map(liveRole))).filter((r) => r === "leader").length === 1, "one of the other tabs leads");

    await updateStatus(server, userId, reportB, "queued");
    for (const page of rest) await expectStatus(page, reportB, "queued");
    for (const page of rest) await waitLive(page);
    await until(async () => (await server.metric("ssehub_streams_open")) === 1, "the server again holds exactly one stream");
    assertNoConsoleErrors();
  });

  it("reconnects after a server restart and catches up on a change it missed", { timeout: 2 * STEP_TIMEOUT }, async () => {
    // Keep two tabs: the leader and a follower.
    for (const page of openPages().slice(2)) await page.close();
    const tabs = openPages();
    assert.equal(tabs.length, 2);
    await until(async () => (await Promise.all(tabs.map(liveRole))).includes("leader"), "a tab leads");
    for (const page of tabs) await waitLive(page);

    expectedNetworkErrors = /net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING|FAILED|CONNECTION_CLOSED)/;
    await server.stop();
    for (const page of tabs) {
      await until(async () => ["reconnecting", "offline"].includes(await connection(page)), "the page shows the connection lost");
    }

    // Hold the page off the stream while the server is back, so the change below is made
    // while the page is not connected and can only be learned by catching up.
    const blockStream = (route) => route.abort("connectionrefused");
    await context.route("**/v4/sse?*", blockStream);
    await server.start();
    await updateStatus(server, userId, reportB, "processing");
    await sleep(1_500);
    for (const page of tabs) {
      assert.notEqual(await connection(page), "live", "the page was live while its stream was blocked");
      await expectStatus(page, reportB, "queued");
    }

    await context.unroute("**/v4/sse?*", blockStream);
    for (const page of tabs) await waitLive(page, 20_000);
    for (const page of tabs) await expectStatus(page, reportB, "processing");
    expectedNetworkErrors = null;
    // It resumed with Last-Event-ID rather than starting a fresh stream.
    assert.ok((await server.metric("ssehub_resumes_total")) >= 1, "the stream did not resume from Last-Event-ID");

    // And it is live again, not just refreshed.
    await updateStatus(server, userId, reportB, "failed");
    for (const page of tabs) await expectStatus(page, reportB, "failed");
    assert.deepEqual(await transitionButtons(tabs[0], reportB), ["pending"]);
    assertNoConsoleErrors();
  });

  it("looks right on a desktop and on a phone", { timeout: STEP_TIMEOUT }, async () => {
    const page = openPages()[0];
    // A few more reports, so every status is on show.
    const create = page.getByRole("button", { name: "Create New Report" });
    for (let i = 0; i < 3; i++) {
      const before = await page.locator("tbody tr").count();
      await create.click();
      await until(async () => (await page.locator("tbody tr").count()) === before + 1, "the new report is listed");
    }
    const ids = await page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.reportId));
    const [newest, second, third, fourth] = ids;
    await updateStatus(server, userId, second, "queued");
    await updateStatus(server, userId, third, "queued");
    await updateStatus(server, userId, third, "processing");
    await updateStatus(server, userId, fourth, "canceled");
    await expectStatus(page, newest, "pending");
    await expectStatus(page, second, "queued");
    await expectStatus(page, third, "processing");
    await expectStatus(page, fourth, "canceled");
    await waitLive(page);

    const screenshots = process.env.SSEHUB_SCREENSHOTS_DIR ?? path.join(workDir, "screenshots");
    await fs.mkdir(screenshots, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.mouse.move(0, 0);
    await sleep(1_800); // let the change highlight fade
    await page.screenshot({ path: path.join(screenshots, "desktop.png") });

    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(300);
    // Nothing may stick out sideways on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await page.screenshot({ path: path.join(screenshots, "phone.png") });
    await page.setViewportSize({ width: 360, height: 740 });
    const narrow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(narrow <= 0, `the page is ${narrow}px wider than a 360px screen`);

    for (const file of ["desktop.png", "phone.png"]) {
      const stat = await fs.stat(path.join(screenshots, file));
      assert.ok(stat.size > 10_000, `${file} is suspiciously small`);
    }
    assertNoConsoleErrors();
  });

  it("signs out, in every tab", { timeout: STEP_TIMEOUT }, async () => {
    const [page, other] = openPages();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("User ID").waitFor();
    await other.getByLabel("User ID").waitFor();
    await page.reload();
    await page.getByLabel("User ID").waitFor();
    assert.equal(await page.getByLabel("User ID").inputValue(), "");
    await until(async () => (await server.metric("ssehub_streams_open")) === 0, "the server holds no stream");
    assertNoConsoleErrors();
  });
});
