// Compatibility driver for the npm `eventsource` package (4.x, the WHATWG EventSource for Node):
// its README's usage on the URL given, everything else left at its default.
//
//   node eventsource.mjs URL [LAST_EVENT_ID]
//
// An EventSource cannot set a first Last-Event-ID; it goes in ssehub's `?lastEventId=` query,
// and the client's own Last-Event-ID header takes over on reconnections. Named events are
// delivered to listeners of their name, so the driver listens to ssehub's `reset` too.

import { EventSource } from "eventsource";
import { event, hello, packageVersion, status, withLastEventId } from "./emit.mjs";

const [url, lastEventId] = process.argv.slice(2);
hello("eventsource", packageVersion("eventsource"));
const es = new EventSource(withLastEventId(url, lastEventId));
es.addEventListener("message", (e) => event(e.type, e.lastEventId, e.data));
es.addEventListener("reset", (e) => event(e.type, e.lastEventId, e.data));
es.addEventListener("open", () => status("open"));
es.addEventListener("error", (e) => status("error", e.message ?? ""));
