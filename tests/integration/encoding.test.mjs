// Message bodies reach EventSource's `event.data` intact: LF, CR and CRLF breaks become LF,
// everything else (unicode, leading spaces, field-like text, a trailing newline) is unchanged.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { curlSse, eventSource, haveCurl, publish, publishOk, showServerLogsOnFailure, sse, startServer, uniqueUser } from "./lib/server.mjs";

showServerLogsOnFailure();
const T = { timeout: 30_000 };
const CURL = { ...T, skip: haveCurl ? false : "curl is not installed" };

// [name, body as published, event.data an EventSource must see]
const CASES = [
  ["lf", "line one\nline two", "line one\nline two"],
  ["cr", "line one\rline two", "line one\nline two"],
  ["crlf", "line one\r\nline two", "line one\nline two"],
  ["mixed", "a\r\nb\rc\nd\r\n\r\ne", "a\nb\nc\nd\n\ne"],
  ["trailing lf", "ends with newline\n", "ends with newline\n"],
  ["trailing crlf", "ends with crlf\r\n", "ends with crlf\n"],
  ["trailing cr", "ends with cr\r", "ends with cr\n"],
  ["leading newlines", "\n\nafter two", "\n\nafter two"],
  ["only a newline", "\n", "\n"],
  ["unicode", "emoji 😀🎉 accents àéîõü ß ñ 中文 עברית", "emoji 😀🎉 accents àéîõü ß ñ 中文 עברית"],
  ["leading spaces", "  two spaces", "  two spaces"],
  ["field-like text", "data: not a field\nid: 99\nevent: nope\nretry: 1", "data: not a field\nid: 99\nevent: nope\nretry: 1"],
  ["comment-like line", ": not a comment\n:x", ": not a comment\n:x"],
  ["tabs and symbols", "\tcol1\tcol2 {\"json\": [1, 2]} <tag> & % # ; =", "\tcol1\tcol2 {\"json\": [1, 2]} <tag> & % # ; ="],
];

describe("message encoding", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.dispose());

  const streamUrl = (user) => `${server.url}/v2/sse?username=${encodeURIComponent(user)}`;

  it("EventSourceDataEqualsTheBodyWithLineBreaksNormalisedToLf", T, async () => {
    const user = uniqueUser("enc-es");
    const client = eventSource(streamUrl(user));
    const raw = await sse(streamUrl(user));
    try {
      await client.waitFor((c) => c.opens === 1, { what: "open" });
      for (const [, body] of CASES) await publishOk(server.url, user, body);
      await client.waitEvents(CASES.length);
      await raw.waitEvents(CASES.length);
      for (const [i, [name, , expected]] of CASES.entries()) {
        assert.equal(client.events[i].data, expected, `EventSource: ${name}`);
        assert.equal(raw.events[i].data, expected, `raw parser: ${name}`);
      }
      assert.deepEqual(client.events.map((e) => e.lastEventId), CASES.map((_, i) => String(i + 1)));
    } finally {
      client.close();
      raw.close();
    }
  });

  it("WireFormatSplitsEveryLineBreakIntoItsOwnDataLine", T, async () => {
    const user = uniqueUser("enc-wire");
    const stream = await sse(streamUrl(user));
    try {
      await publishOk(server.url, user, "a\r\nb\rc\nd");
      await publishOk(server.url, user, "tail\n");
      await publishOk(server.url, user, "ü😀");
      await stream.waitEvents(3);
      const expected = "retry: 200\n" +
        "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n" +
        "id: 2\ndata: tail\ndata: \n\n" +
        "id: 3\ndata: ü😀\n\n";
      assert.equal(stream.textWithoutKeepAlives, expected);
      assert.deepEqual(stream.raw.subarray(-12), Buffer.from("data: ü😀\n\n", "utf8").subarray(-12));
    } finally {
      stream.close();
    }
  });

  it("UnicodeBytesArriveUnchangedThroughCurl", CURL, async () => {
    const user = uniqueUser("enc-curl");
    const body = "Grüße, café, naïve, 😀👍🏽, 日本語\nzweite Zeile";
    const stream = curlSse(streamUrl(user));
    try {
      await stream.waitFor((s) => s.status === 200, { what: "curl: the response head" });
      await publishOk(server.url, user, body);
      await stream.waitEvents(1);
      assert.equal(stream.events[0].data, body);
      const wire = Buffer.from("id: 1\ndata: Grüße, café, naïve, 😀👍🏽, 日本語\ndata: zweite Zeile\n\n", "utf8");
      assert.ok(stream.raw.includes(wire), "the UTF-8 bytes on the wire are the body's own");
    } finally {
      await stream.close();
    }
  });

  it("LargestEventClientsCanBufferArrivesIntactAndOneByteMoreIs413", T, async () => {
    // The limit is on the event as sent (every line with its `data: ` prefix, a 20-digit id),
    // so that Go clients' 64 KiB buffers take every accepted message.
    const encodedSize = (body) =>
      "id: 18446744073709551615\n".length + 1 +
      body.split(/\r\n|\r|\n/).reduce((n, line) => n + "data: ".length + Buffer.byteLength(line) + 1, 0);
    let body = "";
    for (let i = 0; encodedSize(body + `line ${i} ✓\n`) <= 61440; i++) body += `line ${i} ✓\n`;
    body += "x".repeat(61440 - encodedSize(body));
    assert.equal(encodedSize(body), 61440);
    const user = uniqueUser("enc-large");
    const stream = await sse(streamUrl(user));
    try {
      const refused = await publish(server.url, user, body + "y");
      assert.equal(refused.status, 413);
      assert.equal(refused.json.error, "event_too_large");
      assert.match(refused.json.detail, /61441 bytes.*61440/);
      await publishOk(server.url, user, body);
      await stream.waitEvents(1);
      assert.equal(stream.events.length, 1);
      assert.equal(stream.events[0].data, body);
      assert.deepEqual(stream.ids(), [1]);
    } finally {
      stream.close();
    }
  });
});
