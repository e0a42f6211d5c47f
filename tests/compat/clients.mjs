// The clients of the compatibility suite: how each driver is started, and what a reader of the
// table needs to know about how it was used. Every driver takes `URL [LAST_EVENT_ID]` and prints
// one JSON object a line (tests/compat/README.md).
//
// COMPAT_VENV and COMPAT_GO_BIN override where scripts/compat-setup put the Python virtualenv
// and the Go drivers.

import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CACHE = process.env.SSEHUB_CACHE ?? path.join(os.homedir(), ".cache/ssehub");
const VENV = process.env.COMPAT_VENV ?? path.join(CACHE, "compat/venv");
const GO_BIN = process.env.COMPAT_GO_BIN ??
  path.join(path.resolve(ROOT, process.env.BUILD_DIR ?? "build"), "compat");

const node = (script, ...args) => [process.execPath, path.join(HERE, script), ...args];
const python = (script) => [path.join(VENV, "bin/python"), path.join(HERE, "python", script)];

/**
 * id: short name (results, table); name: as the table shows it; language; argv: the driver's
 * command before URL [LAST_EVENT_ID]; usage: how the driver uses the client, in one sentence.
 */
export const CLIENTS = [
  {
    id: "browser-eventsource",
    name: "EventSource (browser)",
    language: "browser",
    argv: node("browser/driver.mjs", "eventsource"),
    usage: "`new EventSource(url)` in a page of the stream's origin; listeners for `message` and " +
      "`reset`; a first id goes in `?lastEventId=`.",
  },
  {
    id: "eventsource",
    name: "eventsource (npm)",
    language: "Node.js",
    argv: node("node/eventsource.mjs"),
    usage: "`new EventSource(url)` with listeners for `message` and `reset`; a first id goes in " +
      "`?lastEventId=`.",
  },
  {
    id: "fetch-event-source",
    name: "@microsoft/fetch-event-source",
    language: "browser",
    argv: node("browser/driver.mjs", "fetch-event-source"),
    usage: "`fetchEventSource(url, {onmessage})` in a page of the stream's origin (it is a browser " +
      "library: it needs `window` and `document`); a first id goes in the `last-event-id` header, " +
      "spelled as the library spells it.",
  },
  {
    id: "httpx-sse",
    name: "httpx-sse",
    language: "Python",
    argv: python("httpx_sse_driver.py"),
    usage: "`connect_sse(httpx.Client(), \"GET\", url)` and `iter_sse()`, in the reconnection loop " +
      "its README leaves to the caller (Last-Event-ID from `sse.id`, delay from `sse.retry`).",
  },
  {
    id: "requests-sse",
    name: "requests-sse",
    language: "Python",
    argv: python("requests_sse_driver.py"),
    usage: "`with EventSource(url) as es: for event in es`; a first id is its `latest_event_id`.",
  },
  {
    id: "sseclient-py",
    name: "sseclient-py",
    language: "Python",
    argv: python("sseclient_driver.py"),
    usage: "`SSEClient(requests.get(url, stream=True)).events()`, in a reconnection loop of the " +
      "caller's (it has none): Last-Event-ID from the last `event.id`.",
  },
  {
    id: "r3labs-sse",
    name: "r3labs/sse",
    language: "Go",
    argv: [path.join(GO_BIN, "r3labs")],
    usage: "`sse.NewClient(url).SubscribeRaw(handler)`; a first id in its `LastEventID` field.",
  },
  {
    id: "go-sse",
    name: "tmaxmax/go-sse",
    language: "Go",
    argv: [path.join(GO_BIN, "gosse")],
    usage: "`sse.NewConnection(req)`, `SubscribeToAll`, `Connect()`; a first id as the request's " +
      "Last-Event-ID header.",
  },
];
