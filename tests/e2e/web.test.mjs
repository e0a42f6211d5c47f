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
// the one before, as a person using the app would. Some stop the server and start it again on
// the same port. Any Content-Security-Policy violation, and any console error not expected at
// that step, fails the test.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BINARY = process.env.SSEHUB_BIN ?? path.join(ROOT, "build/ssehub");
const UPDATE_SCRIPT = process.env.SSEHUB_UPDATE_SCRIPT ?? path.join(ROOT, "scripts/update_report_status.sh");
const WEB_ROOT = path.join(ROOT, "web/dist");
const FAVICON_ICO = path.join(ROOT, "web/public/favicon.ico");
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

  /** A metric's value, summed over its labels (ssehub_streams_open has one per protocol). */
  async metric(name) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const lines = text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return lines.length > 0 ? lines.reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0) : NaN;
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

/** Where each column of the report table is: the left edge and width of every header cell and
 *  of every cell of every row, to a tenth of a pixel. */
async function columnGeometry(page) {
  return page.locator("table.reports").evaluate((table) => {
    const box = (cell) => {
      const rect = cell.getBoundingClientRect();
      return [Math.round(rect.left * 10) / 10, Math.round(rect.width * 10) / 10];
    };
    return {
      header: [...table.querySelectorAll("thead th")].map(box),
      rows: [...table.querySelectorAll("tbody tr")].map((tr) => [...tr.cells].map(box)),
    };
  });
}

const NETWORK_ERRORS = /net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING|FAILED|CONNECTION_CLOSED)|status of 409/;

/** Every button that changes something (a transition, Create New Report): its name, whether it
 *  is disabled (natively or with aria-disabled), and the text of its visible description. */
async function actionButtons(page) {
  return page.locator("button[data-transition], button[data-action]").evaluateAll((buttons) =>
    buttons.map((button) => {
      const described = (button.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean);
      const hint = described
        .map((id) => document.getElementById(id))
        .filter((element) => element && element.checkVisibility({ visibilityProperty: true }))
        .map((element) => element.textContent.trim())
        .join(" ");
      return {
        name: button.textContent.trim(),
        disabled: button.disabled || button.getAttribute("aria-disabled") === "true",
        hint,
      };
    }),
  );
}

// ---- the test ----

describe("report status page", { timeout: 10 * STEP_TIMEOUT }, () => {
  let workDir;
  let server;
  let browser;
  let context;
  const pages = [];
  const consoleErrors = [];
  const cspViolations = []; // securitypolicyviolation events, from every page of every context
  let expectedNetworkErrors = null; // a RegExp while errors like it are expected
  let userId;
  let first; // the first tab
  let reportA;
  let reportB;
  let reportD; // created in the tab test, still pending afterwards

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
    assert.deepEqual(cspViolations, [], "the page broke its Content-Security-Policy");
  }

  /** Records every Content-Security-Policy violation of the context's pages, from before their
   *  first script runs. */
  async function recordCspViolations(target) {
    await target.exposeBinding("__ssehubCspViolation", (_source, violation) => cspViolations.push(violation));
    await target.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        window.__ssehubCspViolation({
          directive: event.effectiveDirective,
          blocked: event.blockedURI,
          sample: event.sample,
          source: `${event.sourceFile}:${event.lineNumber}`,
        });
      });
    });
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
    await recordCspViolations(context);
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
    const status = first.getByRole("status").filter({ hasText: "Live" });
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

  it("shows each report by a short id, with a button that copies the full one", { timeout: STEP_TIMEOUT }, async () => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    const clipboard = () => first.evaluate(() => navigator.clipboard.readText());
    for (const [reportId, press] of [
      [reportA, (button) => button.click()],
      [reportB, async (button) => {
        await button.focus();
        await first.keyboard.press("Enter");
      }],
    ]) {
      const cell = row(first, reportId).locator('td[data-label="Report"]');
      const short = reportId.slice(0, 8);
      assert.equal((await cell.locator("code").innerText()).trim(), short);
      assert.equal(await cell.locator("code").getAttribute("title"), reportId, "the full id is not on hover");
      const copy = cell.getByRole("button", { name: `Copy the full ID of report ${short}` });
      assert.equal(await copy.evaluate((button) => button.tagName), "BUTTON");
      const feedback = cell.getByRole("status");
      assert.equal((await feedback.innerText()).trim(), "");

      await first.evaluate(() => navigator.clipboard.writeText("something else"));
      await press(copy);
      await until(async () => (await clipboard()) === reportId, `the full id of ${short} is on the clipboard`);
      await until(async () => (await feedback.innerText()).trim() === "Copied", "the button says it copied");
      assert.ok(await feedback.isVisible(), "the feedback is not visible");
      await until(async () => (await feedback.innerText()).trim() === "", "the feedback goes after a moment", 5_000);
    }

    // The signed-in user's id, which a user keeps to come back, copies the same way.
    await first.getByRole("button", { name: "Copy your user ID" }).click();
    await until(async () => (await clipboard()) === userId, "the user id is on the clipboard");
    assertNoConsoleErrors();
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

  it("dates a change made before today, and gives the full time on hover", { timeout: STEP_TIMEOUT }, async () => {
    const listed = await (await fetch(`${server.url}/v4/reports?user_id=${userId}`)).json();
    const updatedAt = listed.find((r) => r.reportId === reportA).updatedAt;
    // Another browser, whose clock reads the last half minute of the day of that change, then
    // passes midnight while the page is open. Its time zone is not the machine's (UTC here), so
    // "today" must be the browser's local day.
    const other = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Pacific/Auckland" });
    other.setDefaultTimeout(WAIT);
    try {
      await recordCspViolations(other);
      const page = await other.newPage();
      watch(page, "clock");
      const local = await page.evaluate((timestamp) => {
        const changed = new Date(timestamp);
        return {
          lateThatDay: new Date(changed.getFullYear(), changed.getMonth(), changed.getDate(), 23, 59, 30).getTime(),
          month: new Intl.DateTimeFormat(undefined, { month: "short" }).format(changed),
          weekday: new Intl.DateTimeFormat(undefined, { weekday: "long" }).format(changed),
          day: String(changed.getDate()),
          year: String(changed.getFullYear()),
        };
      }, updatedAt);
      await other.clock.install({ time: local.lateThatDay });
      await page.goto(server.url);
      await page.getByLabel("User ID").fill(userId);
      await page.getByRole("button", { name: "Sign in" }).click();
      await waitLive(page);

      const time = row(page, reportA).locator("time");
      await time.waitFor();
      assert.equal(await time.getAttribute("datetime"), updatedAt);
      const today = (await time.innerText()).trim();
      assert.ok(!today.includes(local.month) && !today.includes(local.year), `a change made today shows its date: ${today}`);

      const full = await time.getAttribute("title");
      for (const part of [local.weekday, local.month, local.day, local.year]) {
        assert.ok(full.includes(part), `the full time "${full}" has no ${part}`);
      }

      await other.clock.fastForward("01:00");
      await until(async () => (await time.innerText()).includes(local.month), "yesterday's change shows its date");
      const yesterday = (await time.innerText()).trim();
      assert.match(yesterday, new RegExp(`\\b${local.day}\\b`), `no day in "${yesterday}"`);
      assert.equal(await time.getAttribute("title"), full);
    } finally {
      await other.close();
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
    reportD = await tabs[0].locator("tbody tr").first().getAttribute("data-report-id");
    assert.ok(![reportA, reportB].includes(reportD));
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

  it("pauses the action buttons, with a hint, while the server is away", { timeout: 2 * STEP_TIMEOUT }, async () => {
    const tabs = openPages();
    for (const page of tabs) await waitLive(page);
    const [page, follower] = tabs;
    const writes = [];
    const recordWrite = (request) => {
      if (request.method() !== "GET") writes.push(`${request.method()} ${request.url()}`);
    };
    for (const p of tabs) p.on("request", recordWrite);

    for (const p of tabs) {
      for (const button of await actionButtons(p)) {
        assert.equal(button.disabled, false, `${button.name} is disabled while live`);
        assert.equal(button.hint, "", `${button.name} has a hint while live`);
      }
    }

    expectedNetworkErrors = NETWORK_ERRORS;
    try {
      await server.stop();
      for (const p of tabs) await until(async () => (await connection(p)) !== "live", "the page shows the connection lost");
      for (const p of tabs) {
        const buttons = await actionButtons(p);
        assert.ok(buttons.length >= 3, `only ${buttons.length} action buttons`);
        for (const button of buttons) {
          assert.equal(button.disabled, true, `${button.name} is enabled while the server is away`);
          assert.match(button.hint, /connection/i, `${button.name} does not say why it is disabled`);
        }
      }
      // A click does nothing: no request, no error.
      await row(page, reportD).getByRole("button", { name: "Queue" }).click({ force: true });
      await page.getByRole("button", { name: "Create New Report" }).click({ force: true });
      await row(follower, reportD).getByRole("button", { name: "Queue" }).click({ force: true });
      await sleep(500);
      assert.deepEqual(writes, [], "a paused button sent a request");
      for (const p of tabs) assert.equal(await p.getByTestId("error").count(), 0, "a paused button raised an error");

      await server.start();
      for (const p of tabs) await waitLive(p, 20_000);
    } finally {
      expectedNetworkErrors = null;
    }
    for (const p of tabs) {
      for (const button of await actionButtons(p)) {
        assert.equal(button.disabled, false, `${button.name} is still disabled once live again`);
        assert.equal(button.hint, "", `${button.name} still has a hint once live again`);
      }
    }
    await row(follower, reportD).getByRole("button", { name: "Queue" }).click();
    await expectStatus(page, reportD, "queued");
    assert.equal(writes.length, 1, `requests: ${writes}`);
    for (const p of tabs) p.off("request", recordWrite);
    assertNoConsoleErrors();
  });

  it("clears a could-not-reach-the-server error once live again, and keeps the others", { timeout: 2 * STEP_TIMEOUT }, async () => {
    const page = openPages()[0];
    await waitLive(page);
    const errors = page.getByTestId("error");
    const unreachable = errors.filter({ hasText: "Could not reach the server" });
    const refused = errors.filter({ hasText: "Could not set report" });

    expectedNetworkErrors = NETWORK_ERRORS;
    try {
      // An error that has nothing to do with the connection: a change the server refuses (409).
      await page.route("**/v4/report?*", (route) => route.continue({ postData: JSON.stringify({ id: reportB, status: "completed" }) }));
      await row(page, reportB).getByRole("button", { name: "Retry" }).click();
      await refused.waitFor();
      await page.unroute("**/v4/report?*");

      // A report created a moment before the server goes away: the request is held in the
      // browser until the server has stopped, then goes out and finds nobody.
      let release;
      const held = new Promise((resolve) => {
        release = resolve;
      });
      await page.route("**/v4/new/report?*", (route) => release(route));
      await page.getByRole("button", { name: "Create New Report" }).click();
      const request = await held;
      await server.stop();
      await until(async () => (await connection(page)) !== "live", "the page shows the connection lost");
      await request.continue();
      await unreachable.waitFor();
      assert.match(await unreachable.innerText(), /Could not create a report/);
      await page.unroute("**/v4/new/report?*");

      await server.start();
      await waitLive(page, 20_000);
      await until(async () => (await unreachable.count()) === 0, "the could-not-reach error is gone");
    } finally {
      expectedNetworkErrors = null;
    }
    // The refused change is still news; it goes only when dismissed.
    assert.equal(await refused.count(), 1, "the refused change's error went too");
    await refused.getByRole("button", { name: /Dismiss/ }).click();
    await until(async () => (await errors.count()) === 0, "the error is dismissed");
    await expectStatus(page, reportB, "failed");
    assertNoConsoleErrors();
  });

  it("keeps every column where it is while statuses change", { timeout: 2 * STEP_TIMEOUT }, async () => {
    const page = openPages()[0];
    await waitLive(page);
    const before = await page.locator("tbody tr").count();
    await page.getByRole("button", { name: "Create New Report" }).click();
    await until(async () => (await page.locator("tbody tr").count()) === before + 1, "the new report is listed");
    const reportC = await page.locator("tbody tr").first().getAttribute("data-report-id");
    await expectStatus(page, reportC, "pending");
    const start = await columnGeometry(page);
    assert.equal(start.header.length, 4);

    // Through every status and so every set of buttons, the widest ones included.
    const statuses = ["canceled", "pending", "queued", "processing", "failed", "pending", "queued", "processing", "completed"];
    for (const status of statuses) {
      await updateStatus(server, userId, reportC, status);
      await expectStatus(page, reportC, status);
      const now = await columnGeometry(page);
      assert.deepEqual(now.header, start.header, `the column headers moved when the report became ${status}`);
      for (const [i, cells] of now.rows.entries()) {
        assert.deepEqual(cells, start.header, `row ${i}'s cells are not under their headers when the report became ${status}`);
      }
    }
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
    const [newest, second, third] = ids;
    const fourth = reportD;
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

    // The narrowest window that still gets the table (its columns are fixed) has room for the
    // widest buttons and ids: no cell's content sticks out of it.
    for (const width of [769, 1024]) {
      await page.setViewportSize({ width, height: 800 });
      await sleep(300);
      assert.equal(await page.locator("table.reports").evaluate((table) => getComputedStyle(table).display), "table", `no table at ${width}px`);
      const cramped = await page.locator("table.reports tbody td").evaluateAll((cells) =>
        cells.filter((cell) => cell.scrollWidth > cell.clientWidth).map((cell) => `${cell.dataset.label}: ${cell.textContent}`),
      );
      assert.deepEqual(cramped, [], `cells overflow at ${width}px`);
    }

    for (const file of ["desktop.png", "phone.png"]) {
      const stat = await fs.stat(path.join(screenshots, file));
      assert.ok(stat.size > 10_000, `${file} is suspiciously small`);
    }
    assertNoConsoleErrors();
  });

  it("serves its icons: /favicon.ico as an icon, the one in web/public", { timeout: STEP_TIMEOUT }, async () => {
    const response = await fetch(`${server.url}/favicon.ico`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "image/x-icon");
    const served = Buffer.from(await response.arrayBuffer());
    assert.deepEqual(served, await fs.readFile(FAVICON_ICO), "/favicon.ico is not web/public/favicon.ico");
    // An ICO file: reserved 0, type 1, then a directory entry per image (0 in a size byte means 256).
    assert.equal(served.readUInt16LE(0), 0);
    assert.equal(served.readUInt16LE(2), 1);
    const sizes = [];
    for (let i = 0; i < served.readUInt16LE(4); i++) {
      const entry = 6 + 16 * i;
      const [width, height] = [served[entry] || 256, served[entry + 1] || 256];
      assert.equal(width, height);
      const [length, offset] = [served.readUInt32LE(entry + 8), served.readUInt32LE(entry + 12)];
      assert.ok(offset + length <= served.length, `image ${i} runs past the end of the file`);
      sizes.push(width);
    }
    for (const size of [16, 32, 48]) assert.ok(sizes.includes(size), `no ${size}x${size} image in favicon.ico: ${sizes}`);

    // Every icon the page names is there, with an image type.
    const page = openPages()[0];
    const icons = await page.locator('link[rel="icon"]').evaluateAll((links) => links.map((link) => link.href));
    assert.ok(icons.some((href) => href.endsWith("/favicon.ico")), `the page does not name /favicon.ico: ${icons}`);
    for (const href of icons) {
      const icon = await fetch(href);
      assert.equal(icon.status, 200, href);
      assert.match(icon.headers.get("content-type"), /^image\//, href);
    }
  });

  it("ran the whole flow under its Content-Security-Policy, and cannot be framed", { timeout: STEP_TIMEOUT }, async () => {
    const page = openPages()[0];
    const response = await page.reload();
    await waitLive(page);
    const headers = response.headers();
    assert.match(headers["content-security-policy"], /script-src 'self'/);
    assert.match(headers["content-security-policy"], /style-src 'self'/);
    assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
    assert.equal(headers["x-frame-options"], "DENY");
    // The page has nothing inline for the policy to refuse. (React's style props set styles
    // through the CSSOM, which the policy allows; anything it refuses would have been recorded.)
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "index.html has an inline script");
    assert.doesNotMatch(html, /<style|\sstyle=/i, "index.html has an inline style");
    assertNoConsoleErrors();

    // A page of another origin puts the report page in a frame: the browser refuses to show it.
    const framer = http.createServer((_request, reply) => {
      reply.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      reply.end(`<!doctype html><title>framer</title><iframe src="${server.url}/" title="framed"></iframe>`);
    });
    await new Promise((resolve) => framer.listen(0, "127.0.0.1", resolve));
    const framing = await context.newPage();
    const refusals = [];
    framing.on("console", (message) => {
      if (/frame-ancestors|X-Frame-Options/.test(message.text())) refusals.push(message.text());
    });
    const framedLoads = [];
    framing.on("response", (reply) => {
      if (reply.url() === `${server.url}/`) framedLoads.push(reply.status());
    });
    try {
      await framing.goto(`http://127.0.0.1:${framer.address().port}/`);
      assert.notEqual(new URL(framing.url()).port, String(server.port), "the framing page is on the same origin");
      await until(async () => framedLoads.length > 0, "the frame asked for the page");
      await until(async () => refusals.length > 0, "the browser says it refused the frame");
      const frame = framing.frames().find((f) => f !== framing.mainFrame());
      assert.ok(frame, "no frame");
      assert.ok(!frame.url().startsWith(server.url), `the frame shows the page: ${frame.url()}`);
      const inside = await frame.evaluate(() => document.querySelector("#root, .signin, .app") !== null).catch(() => false);
      assert.equal(inside, false, "the report page rendered inside the frame");
    } finally {
      await framing.close();
      await new Promise((resolve) => framer.close(resolve));
    }

    // The recording itself works: an inline script, which the policy refuses, is caught.
    const probe = await context.newPage();
    try {
      await probe.goto(server.url);
      await probe.evaluate(() => {
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.head.append(script);
      });
      await until(async () => cspViolations.length > 0, "the recorder sees the refused inline script");
      assert.equal(await probe.evaluate(() => window.__inlineRan === true), false, "an inline script ran");
      assert.match(cspViolations[0].directive, /^script-src/);
    } finally {
      await probe.close();
      cspViolations.length = 0;
    }
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
