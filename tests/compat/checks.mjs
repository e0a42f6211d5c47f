// What the compatibility suite checks for every client, and the messages it publishes for it.
// Shared by the harness (compat.test.mjs) and the table generator (report.mjs).

/** The columns of the table, in order. `extra`: beyond what issue 12 asks of every client. */
export const CHECKS = [
  {
    id: "bodies",
    label: "bodies",
    description: "Bodies arrive byte-identical, line breaks as LF: LF, CRLF and lone CR breaks, " +
      "emoji, CJK, lines starting with `:` or `data:` or other field names, empty lines inside.",
  },
  {
    id: "largest",
    label: "largest message",
    description: "The largest message ssehub accepts (a 61,407-byte line, published after 1.5 s " +
      "of keep-alive lines every 10 ms, which the client buffers with it) arrives byte-identical, " +
      "and so does the message after it.",
  },
  {
    id: "ids",
    label: "ids",
    description: "Every event carries the id ssehub gave it (as the client's last event id), " +
      "increasing.",
  },
  {
    id: "prompt",
    label: "prompt",
    description: "A small event reaches the application within 1 s of its publish's 204, with no " +
      "later bytes on the stream (keep-alives are 30 s apart).",
  },
  {
    id: "resume",
    label: "resume after kill -9",
    description: "The server is killed with SIGKILL and restarted on the same port while messages " +
      "are published: the client reconnects by itself and receives every stored event after its " +
      "last one, once each, in order.",
  },
  {
    id: "earliest",
    label: "earliest",
    description: "A client that was never connected starts with `Last-Event-ID: earliest` (or " +
      "`?lastEventId=earliest`) and receives what was published before, then live events.",
  },
  {
    id: "reset",
    label: "reset",
    description: "Resuming from an id retention has dropped: the named event `reset` reaches the " +
      "application first, with its id and JSON data, then the retained events.",
  },
  {
    id: "no-empty",
    label: "no empty message",
    description: "The application gets no message ssehub did not publish: none on connect, none " +
      "after reconnecting, and none across 200 keep-alive lines every 10 ms (3.6 KiB), once " +
      "before the first event and once after one.",
  },
  {
    id: "edges",
    label: "whitespace edges",
    extra: true,
    description: "Bodies at the edges of the format arrive byte-identical: leading spaces, a " +
      "leading or trailing line break, a body that is only a line break.",
  },
];

/** [label, body] published for the `bodies` check. */
export const BODIES = [
  ["LF", "first line\nsecond line"],
  ["CRLF", "first line\r\nsecond line"],
  ["lone CR", "first line\rsecond line"],
  ["mixed breaks", "a\nb\r\nc\rd\n\re"],
  ["emoji", "emoji 😀 👍🏽 and a family 👨‍👩‍👧 in one grapheme"],
  ["CJK", "中文 日本語のテキスト 한국어"],
  ["comment-like lines", ":not a comment\n: nor this\n:"],
  ["data lines", "data: not a field\ndata:x\ndata"],
  ["other field names", "id: 999\nevent: reset\nretry: 1\nevent"],
  ["empty lines inside", "above\n\nbelow\r\n\r\nand\r\rend\n\n\nlast"],
];

/** [label, body] published for the `edges` check. */
export const EDGE_BODIES = [
  ["leading spaces", "  two leading spaces"],
  ["leading tab", "\tone leading tab"],
  ["trailing line break", "ends with a line break\n"],
  ["leading line break", "\nstarts with a line break"],
  ["only a line break", "\n"],
  ["trailing spaces", "two trailing spaces  "],
];

/** What a WHATWG client hands to the application for `body`: line breaks become LF. */
export const delivered = (body) => body.replace(/\r\n|\r/g, "\n");

// ssehub accepts an event whose encoding with a 20-digit id fits in --max-event-bytes (61440 by
// default): "id: " + 20 digits + LF, then "data: " + line + LF per line, then the blank line.
export const MAX_EVENT_BYTES = 61440;
export const LARGEST_LINE_BYTES = MAX_EVENT_BYTES - ("id: ".length + 20 + 1) - ("data: ".length + 1) - 1;

/** A one-line body of exactly `bytes` UTF-8 bytes, mixing 1-, 3- and 4-byte characters. */
export function bodyOfBytes(bytes) {
  const unit = "ssehub 中文 😀 ";
  const parts = [];
  let size = 0;
  const unitBytes = Buffer.byteLength(unit);
  while (size + unitBytes <= bytes) {
    parts.push(unit);
    size += unitBytes;
  }
  parts.push("x".repeat(bytes - size));
  return parts.join("");
}
