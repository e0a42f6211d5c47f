// Clients of ssehub's HTTP/2 side (node:http2): a session, one request, one event stream.

import http2 from "node:http2";
import { SseParser } from "./server.mjs";

/** An HTTP/2 client session to `server`: h2c with prior knowledge, or h2 over TLS trusting `ca`. */
export function connect(server, { tls = false, ca, settings = {} } = {}) {
  const session = tls
    ? http2.connect(`https://localhost:${server.port}`, { ca, host: "127.0.0.1", servername: "localhost", settings })
    : http2.connect(`http://127.0.0.1:${server.port}`, { settings });
  session.on("error", () => {});
  return session;
}

/** One request on `session`; resolves {status, headers, body, json} as request() does. */
export function h2request(session, p, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": method, ":path": p, ...headers }, { endStream: body === undefined });
    const chunks = [];
    let head;
    req.on("response", (h) => (head = h));
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let json;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ status: head?.[":status"], headers: head, body: text, json });
    });
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

/** An event stream on `session`: {status, headers, parser, stream, closed: Promise<rstCode>}. */
export function h2sse(session, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": p, accept: "text/event-stream", ...headers });
    const parser = new SseParser();
    const closed = new Promise((done) => stream.on("close", () => done(stream.rstCode)));
    stream.setEncoding("utf8");
    stream.on("data", (text) => parser.feed(text));
    stream.on("error", () => {});
    stream.on("response", (head) => resolve({ status: head[":status"], headers: head, parser, stream, closed }));
    stream.on("close", () => reject(new Error(`stream ${p} closed before its head`)));
  });
}

/** The data of the `type` events a parser has seen. */
export const eventData = (parser, type = "message") => parser.events.filter((e) => e.type === type).map((e) => e.data);
