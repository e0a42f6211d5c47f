// Compatibility driver for the clients that run in a browser: the browser's own EventSource, and
// @microsoft/fetch-event-source, a browser library (it reads `window` and `document`), run here
// in the page where it belongs rather than in Node with stand-ins for both. Debian's Chromium,
// headless, through playwright-core.
//
//   node driver.mjs eventsource|fetch-event-source URL [LAST_EVENT_ID]
//
// The page is served at the stream's own origin (Playwright answers that one request), so the
// client connects same-origin, as an app served by its backend would; later requests go to the
// real server untouched. The page reports what the client hands it through an exposed function.
// CHROMIUM_PATH overrides where Chromium is found.

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";
import { event, hello, packageVersion, status, withLastEventId } from "../node/emit.mjs";

const require = createRequire(import.meta.url);
const [client, url, lastEventId] = process.argv.slice(2);
const origin = new URL(url).origin;
const PAGE = `${origin}/__compat__/page.html`;
const LIB = `${origin}/__compat__/lib/`;

// The page's script. EventSource cannot set a first Last-Event-ID: it goes in ssehub's
// `?lastEventId=` query. fetch-event-source takes headers; the id goes under the lower-case name
// the library itself keeps it under, which it then replaces on reconnections (under any other
// spelling the browser would send both values joined by a comma).
const SCRIPTS = {
  eventsource: `
    const es = new EventSource(${JSON.stringify(withLastEventId(url, lastEventId))});
    for (const type of ["message", "reset"]) {
      es.addEventListener(type, (e) => report({ type: e.type, id: e.lastEventId, data: e.data }));
    }
    es.onopen = () => report({ status: "open" });
    es.onerror = () => report({ status: "error", detail: "readyState " + es.readyState });
  `,
  "fetch-event-source": `
    import { fetchEventSource } from "${LIB}index.js";
    fetchEventSource(${JSON.stringify(url)}, {
      headers: ${JSON.stringify(lastEventId ? { "last-event-id": lastEventId } : {})},
      onmessage: (m) => report({ type: m.event, id: m.id, data: m.data }),
      // An observer only: returning nothing keeps the library's own retry interval.
      onerror: (e) => { report({ status: "error", detail: String(e) }); },
    }).then(() => report({ status: "end", detail: "fetchEventSource resolved" }),
            (e) => report({ status: "end", detail: "fetchEventSource rejected: " + e }));
  `,
};
if (!SCRIPTS[client] || !url) {
  console.error("usage: node driver.mjs eventsource|fetch-event-source URL [LAST_EVENT_ID]");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"],
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => browser.close().finally(() => process.exit(0)));
}
const version = `Chromium ${browser.version()}`;
hello(client === "eventsource" ? "EventSource" : "fetch-event-source",
      client === "eventsource" ? version : `${packageVersion("@microsoft/fetch-event-source")} in ${version}`);

const page = await browser.newPage();
page.on("console", (m) => console.error(`page ${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => status("error", `page error: ${e.message}`));
await page.exposeFunction("report", (obj) => {
  if ("status" in obj) status(obj.status, obj.detail ?? "");
  else event(obj.type, obj.id, obj.data);
});

const libDir = path.dirname(require.resolve("@microsoft/fetch-event-source/lib/esm/index.js"));
await page.route(`${origin}/__compat__/**`, async (route) => {
  const target = route.request().url();
  if (target === PAGE) {
    const module = client === "fetch-event-source" ? ' type="module"' : "";
    return route.fulfill({ contentType: "text/html",
                           body: `<!doctype html><title>compat</title><link rel="icon" href="data:,"><script${module}>${SCRIPTS[client]}</script>` });
  }
  // The library's ES modules import each other without the .js extension a bundler would add.
  let name = target.slice(LIB.length);
  if (!name.endsWith(".js")) name += ".js";
  return route.fulfill({ contentType: "text/javascript", body: await readFile(path.join(libDir, name)) });
});
try {
  await page.goto(PAGE);
  // Nothing else is intercepted: the stream's requests reach the server unobserved.
  await page.unrouteAll({ behavior: "wait" });
} catch (e) {
  status("end", `the page did not load: ${e.message}`);
  await browser.close();
  process.exit(1);
}
