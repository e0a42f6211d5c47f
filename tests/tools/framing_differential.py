#!/usr/bin/env python3
"""Differential check of HTTP/1.1 request framing: ssehub's request reader against h11.

Generates inputs (the bytes a client sends on one connection): framing-relevant variations of
Content-Length and Transfer-Encoding (spellings, whitespace, case, duplicates), chunk sizes,
extensions and trailers, bare LF and CR, obs-fold, pipelining, HTTP/1.0 against 1.1, random
combinations of these, and mutations of fuzz/corpus/http_request/. Each input goes through
ssehub's RequestReader (build/ssehub_framing_probe, which reads as the server's session does)
and through h11, which answers every request with a minimal response so that it moves on to
the next one.

The rule: wherever the two disagree on where a request ends (or on its body, method or
target), ssehub must have refused at or before that request. So ssehub may be stricter than
h11 (refuse what h11 accepts, close where h11 keeps the connection), but it must never run a
request that h11 frames otherwise, or refuses, or still waits for the end of. Where ssehub
waits for more of a request that h11 has ended, the input is read again with more bytes after
it: ssehub must then refuse that request, not run it. Two refusals of h11 are not framing
decisions and are reported apart: characters in a request line (the line ends where it ends),
and chunk-size lines RFC 9112 allows (BWS around `;`, which recipients must parse, and more
than 20 hex digits). Everything is seeded: the same inputs every run.

Prints a summary per family of inputs (inputs, disagreements by kind, violations with their
bytes) and ends with "N passed, M failed", one check per family. Exit status 1 on a violation.

    framing_differential.py --probe build/ssehub_framing_probe [--seed N] [--show N]
"""

import argparse
import base64
import collections
import json
import pathlib
import random
import re
import subprocess
import sys

import h11

ROOT = pathlib.Path(__file__).resolve().parents[2]
CANARY = b"GET /canary HTTP/1.1\r\nHost: a\r\n\r\n"
# What follows an input when ssehub waits for more where h11 saw the end: enough bytes to pass
# every limit (head, framing, body), so that ssehub must decide.
CONTINUATION = CANARY + b"x" * 70_000


# ---------------------------------------------------------------------------------------------
# Inputs


def request(head_lines, body=b"", line=b"POST /v2/message?username=u HTTP/1.1", host=True, eol=b"\r\n"):
    """A request: request line, Host (unless `host` is False), `head_lines`, blank line, body."""
    lines = [line] + ([b"Host: a"] if host else []) + list(head_lines)
    return eol.join(lines) + eol + eol + body


def chunked_body(pieces, trailers=b""):
    out = b""
    for piece in pieces:
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


def content_length_family(rng):
    values = [b"5", b"05", b"00005", b" 5", b"5 ", b"\t5", b"5\t", b"+5", b"-5", b"5,5", b"5, 5", b"5 , 5", b"5,6",
              b"6,5", b"5,", b",5", b"0x5", b"5.0", b"5e0", b"", b"5 5", b"99999999999999999999999",
              b"18446744073709551616", b"\xd9\xa5", b"5\x00", b"5\x0b", b"4", b"6", b"0"]
    names = [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"Content-Length ", b"Content-Length\t",
             b"Content_Length", b"Content-Length\x00", b"Content-Lengt", b"XContent-Length"]
    inputs = []
    for value in values:
        for method in (b"POST", b"GET", b"PUT"):
            line = method + b" /v2/message?username=u HTTP/1.1"
            inputs.append(request([b"Content-Length: " + value], b"hello" + CANARY, line=line))
            inputs.append(request([b"Content-Length:" + value], b"hello" + CANARY, line=line))
    for name in names:
        inputs.append(request([name + b": 5"], b"hello" + CANARY))
    return inputs


def transfer_encoding_family(rng):
    values = [b"chunked", b"Chunked", b"CHUNKED", b" chunked", b"chunked ", b"\tchunked\t", b"chunked,", b",chunked",
              b", chunked", b"chunked, chunked", b"identity", b"identity, chunked", b"chunked, identity",
              b"gzip, chunked", b"gzip,chunked", b"deflate", b"xchunked", b"chunkedx", b"chunked-false",
              b"chunked;q=1", b"chunked ;q=1", b"chunk", b"\"chunked\"", b"chunked\x0b", b"\x0bchunked",
              b"ch\x00unked", b"chunked\r", b"", b" ", b","]
    names = [b"Transfer-Encoding", b"transfer-encoding", b"TRANSFER-ENCODING", b"Transfer-Encoding ",
             b"Transfer-Encoding\t", b"Transfer_Encoding", b"Transfer-Encodings", b"XTransfer-Encoding"]
    body = chunked_body([b"hello"])
    inputs = []
    for value in values:
        inputs.append(request([b"Transfer-Encoding: " + value], body + CANARY))
        inputs.append(request([b"Transfer-Encoding:" + value], body + CANARY))
        inputs.append(request([b"Transfer-Encoding: " + value, b"Content-Length: 5"], body + CANARY))
        inputs.append(request([b"Content-Length: 5", b"Transfer-Encoding: " + value], b"hello" + CANARY))
        inputs.append(request([b"Transfer-Encoding: " + value], body + CANARY, line=b"POST /x HTTP/1.0", host=False))
    for name in names:
        inputs.append(request([name + b": chunked"], body + CANARY))
    return inputs


def chunk_size_family(rng):
    sizes = [b"5", b"05", b"0005", b"0" * 200 + b"5", b"5 ", b"5\t", b" 5", b"+5", b"-5", b"0x5", b"5;", b"5 ;a",
             b"5\x00", b"FFFFFFFFFFFFFFFFF5", b"10000000000000005", b"4", b"6", b"5\r", b"5\n", b"5\r\r", b"",
             b"g", b"5g", b"\xff5"]
    zeros = [b"0", b"00", b"000;a", b"0 ", b"+0", b"-0", b"0x0", b"0;", b""]
    inputs = []
    head = [b"Transfer-Encoding: chunked"]
    for size in sizes:
        inputs.append(request(head, size + b"\r\nhello\r\n0\r\n\r\n" + CANARY))
    for zero in zeros:
        inputs.append(request(head, b"5\r\nhello\r\n" + zero + b"\r\n\r\n" + CANARY))
    # The CRLF after the data: missing, bare LF, bare CR, extra bytes.
    for after in [b"", b"\n", b"\r", b"X\r\n", b"\r\n\r\n", b" \r\n"]:
        inputs.append(request(head, b"5\r\nhello" + after + b"0\r\n\r\n" + CANARY))
    # Several chunks, some of size 0 in the middle.
    inputs.append(request(head, b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n" + CANARY))
    inputs.append(request(head, b"2\r\nhe\r\n0\r\n\r\n3\r\nllo\r\n0\r\n\r\n" + CANARY))
    # Around the body limit (64 KiB) and the framing limit (8 KiB).
    for total in (65535, 65536, 65537):
        inputs.append(request(head, chunked_body([b"x" * (total // 2), b"y" * (total - total // 2)]) + CANARY))
    for count in (1000, 1700, 2000):
        inputs.append(request(head, chunked_body([b"z"] * count) + CANARY))
    for _ in range(40):
        pieces = [bytes([rng.randrange(32, 127)]) * rng.randrange(0, 300) for _ in range(rng.randrange(1, 6))]
        pieces = [p for p in pieces if p]
        inputs.append(request(head, chunked_body(pieces) + CANARY))
    return inputs


def chunk_extension_family(rng):
    extensions = [b";", b";a", b";a=b", b";a=\"b\"", b"; a=b", b";a =b", b";a= b", b";a=\"b;c\"", b";a=b;c=d", b";=b",
                  b";a=", b";a=\"\\\"x\"", b";a=\"unterminated", b";a=\x7f", b";a=\x80", b";a=b\x00", b";a=b\rc",
                  b" ;a", b"\t;a", b";a b", b";a=\"b\r\nc\"", b";" + b"e" * 7000, b";" + b"e" * 9000,
                  b";a=\"" + b"q" * 100 + b"\"", b";a\x0b=b"]
    inputs = []
    for ext in extensions:
        inputs.append(request([b"Transfer-Encoding: chunked"], b"5" + ext + b"\r\nhello\r\n0\r\n\r\n" + CANARY))
        inputs.append(request([b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0" + ext + b"\r\n\r\n" + CANARY))
    return inputs


def trailer_family(rng):
    trailers = [b"X: y\r\n", b"X:y\r\n", b"X : y\r\n", b"X: y\r\n z\r\n", b"X: y\r\n\tz\r\n", b"Content-Length: 5\r\n",
                b"Transfer-Encoding: chunked\r\n", b"X: y\n", b": y\r\n", b"X y\r\n", b"X: y\r\nX: z\r\n",
                b" X: y\r\n", b"X: y\r", b"X: \x00\r\n", b"X: \x7f\r\n", b"X-" + b"t" * 8000 + b": v\r\n",
                b"".join(b"T%d: %s\r\n" % (i, b"v" * 90) for i in range(100)), b"Host: b\r\n"]
    inputs = []
    for trailer in trailers:
        inputs.append(request([b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n" + CANARY))
    return inputs


def line_ending_family(rng):
    bases = [
        request([b"Content-Length: 5"], b"hello"),
        request([b"Transfer-Encoding: chunked", b"X-A: b"], b"5\r\nhello\r\n0\r\nT: v\r\n\r\n"),
        request([b"Accept: */*"], line=b"GET /healthz HTTP/1.1"),
    ]
    inputs = []
    for base in bases:
        positions = [i for i in range(len(base) - 1) if base[i:i + 2] == b"\r\n"]
        for i in positions:
            for replacement in (b"\n", b"\r", b"\n\r", b"\r\r\n"):
                inputs.append(base[:i] + replacement + base[i + 2:] + CANARY)
        inputs.append(base.replace(b"\r\n", b"\n") + CANARY)
        inputs.append(base.replace(b"\r\n", b"\n") + CANARY.replace(b"\r\n", b"\n"))
    return inputs


def obs_fold_family(rng):
    folds = [
        [b"Transfer-Encoding: chunked", b" , identity"],
        [b"Transfer-Encoding: identity,", b" chunked"],
        [b"Transfer-Encoding:", b" chunked"],
        [b"Content-Length: 5", b" 0"],
        [b"Content-Length:", b" 5"],
        [b"X-A: b", b"\tc", b"Content-Length: 5"],
        [b"X-A: b", b" Transfer-Encoding: chunked"],
        [b" Content-Length: 5"],
        [b"\tTransfer-Encoding: chunked"],
    ]
    inputs = []
    for lines in folds:
        for body in (b"hello", chunked_body([b"hello"])):
            inputs.append(request(lines, body + CANARY))
    return inputs


def duplicate_family(rng):
    sets = [
        [b"Content-Length: 5", b"Content-Length: 5"],
        [b"Content-Length: 5", b"Content-Length: 6"],
        [b"Content-Length: 5", b"content-length: 5"],
        [b"Content-Length: 0", b"Content-Length: 5"],
        [b"Content-Length: 5", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: chunked", b"Content-Length: 5"],
        [b"Transfer-Encoding: chunked", b"Content-Length: 0"],
        [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"],
        [b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked"],
        [b"Host: b"],
    ]
    inputs = []
    for lines in sets:
        for body in (b"hello", chunked_body([b"hello"])):
            inputs.append(request(lines, body + CANARY))
    inputs.append(request([], CANARY, line=b"GET http://a/x HTTP/1.1", host=False))
    inputs.append(request([b"Host: a"], CANARY, line=b"GET /x HTTP/1.1", host=False))
    inputs.append(request([], CANARY, line=b"GET /x HTTP/1.1", host=False))
    return inputs


PIPELINE_POOL = [
    request([], line=b"GET /healthz HTTP/1.1"),
    request([], line=b"HEAD /healthz HTTP/1.1"),
    request([b"Content-Length: 5"], b"hello"),
    request([b"Content-Length: 0"]),
    request([b"Transfer-Encoding: chunked"], chunked_body([b"he", b"llo"])),
    request([b"Transfer-Encoding: chunked"], chunked_body([b"hello"], b"T: v\r\n")),
    request([b"Expect: 100-continue", b"Content-Length: 3"], b"abc"),
    request([b"Connection: close", b"Content-Length: 3"], b"abc"),
    request([b"Connection: keep-alive", b"Content-Length: 3"], b"abc", line=b"POST /x HTTP/1.0", host=False),
    request([b"Content-Length: 3"], b"abc", line=b"POST /x HTTP/1.0", host=False),
    request([b"Content-Length: 2"], b"{}", line=b"PUT /v4/report HTTP/1.1"),
    request([b"Content-Length: 4"], b"body", line=b"GET /healthz HTTP/1.1"),
    request([b"Content-Length: 0"], line=b"DELETE /x HTTP/1.1"),
    request([b"Connection: keep-alive, close"], line=b"GET /x HTTP/1.1"),
    request([b"Connection: Close"], line=b"GET /x HTTP/1.1"),
]


def pipelining_family(rng):
    inputs = []
    for a in PIPELINE_POOL:
        for b in PIPELINE_POOL:
            inputs.append(a + b + CANARY)
    for _ in range(200):
        inputs.append(b"".join(rng.choice(PIPELINE_POOL) for _ in range(rng.randrange(2, 6))))
    return inputs


def version_family(rng):
    versions = [b"HTTP/1.0", b"HTTP/1.1", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/2", b"HTTP/0.9", b"http/1.1", b"HTTP/1.1 ",
                b"HTTP/1.01", b"HTTP/01.1", b"HTTP/1", b"HTTP/1.1\x00", b"HTTP/1.1\t", b"HTTP/11", b"", b"HTTP/1.A",
                b"HTTPS/1.1", b" HTTP/1.1"]
    inputs = []
    for version in versions:
        line = b"POST /x " + version
        inputs.append(request([b"Content-Length: 5"], b"hello" + CANARY, line=line))
        inputs.append(request([b"Transfer-Encoding: chunked"], chunked_body([b"hello"]) + CANARY, line=line))
        inputs.append(request([b"Connection: keep-alive", b"Content-Length: 5"], b"hello" + CANARY, line=line,
                              host=False))
    for line in [b"GET /", b"GET / HTTP/1.1 extra", b"GET  / HTTP/1.1", b"GET\t/ HTTP/1.1", b" GET / HTTP/1.1",
                 b"GET / HTTP/1.1\r", b"G\x00T / HTTP/1.1", b"GET /a b HTTP/1.1", b"GET /\x7f HTTP/1.1",
                 b"GET /\x80 HTTP/1.1", b"GET * HTTP/1.1", b"OPTIONS * HTTP/1.1", b"CONNECT a:1 HTTP/1.1",
                 b"GET http://a/x HTTP/1.1", b"GET a HTTP/1.1"]:
        inputs.append(request([], CANARY, line=line))
    # Blank lines before a request (RFC 9112 §2.2 allows ignoring one CRLF).
    inputs.append(b"\r\n" + request([], CANARY, line=b"GET /x HTTP/1.1"))
    inputs.append(b"\r\n\r\n" + request([], CANARY, line=b"GET /x HTTP/1.1"))
    inputs.append(request([b"Content-Length: 5"], b"hello\r\n" + CANARY))
    return inputs


FRAMING_LINES = [
    b"Content-Length: 5", b"Content-Length: 0", b"Content-Length: 3", b"Content-Length: 12", b"Content-Length: 05",
    b"Content-Length: 5, 5", b"Content-Length: 5,6", b"Content-Length: +5", b"content-length: 5",
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: Chunked", b"Transfer-Encoding: identity",
    b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: chunked, identity", b"Transfer-Encoding: xchunked",
    b"transfer-encoding: chunked", b"Transfer-Encoding : chunked", b" Transfer-Encoding: chunked",
    b"Connection: close", b"Connection: keep-alive", b"Expect: 100-continue", b"Host: b", b"X-A: b",
    b"Transfer-Encoding:\tchunked", b"Transfer-Encoding: chunked\r\n chunked",
]
BODIES = [b"", b"hello", b"hello world!", chunked_body([b"hello"]), chunked_body([b"he", b"llo"], b"T: v\r\n"),
          b"5;x=y\r\nhello\r\n0\r\n\r\n", b"5\r\nhello\r\n0\r\n", b"0\r\n\r\n", b"5\nhello\n0\n\n",
          b"3\r\nabc\r\n0\r\n\r\n", b"c\r\nhello world!\r\n0\r\n\r\n"]


def random_family(rng):
    inputs = []
    for _ in range(2500):
        method = rng.choice([b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"PATCH", b"DELETE"])
        version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"])
        lines = rng.sample(FRAMING_LINES, rng.randrange(0, 4))
        host = version == b"HTTP/1.1" and rng.random() < 0.95
        data = request(lines, rng.choice(BODIES), line=method + b" /v2/message " + version, host=host)
        for _ in range(rng.randrange(0, 3)):
            data += rng.choice(PIPELINE_POOL + [CANARY])
        inputs.append(data)
    return inputs


def corpus_family(rng):
    corpus = [p.read_bytes() for p in sorted((ROOT / "fuzz/corpus/http_request").iterdir()) if p.is_file()]
    tokens = [b"\r\n", b"\n", b"\r", b" ", b"\t", b",", b";", b":", b"0", b"chunked", b"identity",
              b"Transfer-Encoding: chunked\r\n", b"Content-Length: 3\r\n", b"Content-Length: 0\r\n", b"\r\n ",
              b"HTTP/1.0", b"0\r\n\r\n", b"\x00", b"\xff"]

    def mutate(data):
        data = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(6)
            at = rng.randrange(len(data) + 1)
            if op == 0 and data:  # flip a byte
                data[min(at, len(data) - 1)] = rng.randrange(256)
            elif op == 1:  # insert a token
                data[at:at] = rng.choice(tokens)
            elif op == 2 and data:  # delete a run
                del data[at:at + rng.randrange(1, 8)]
            elif op == 3:  # duplicate a line
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                if end >= 0:
                    data[end + 1:end + 1] = data[start:end + 1]
            elif op == 4:  # swap a CRLF for a bare LF or CR
                crlf = data.find(b"\r\n", at)
                if crlf >= 0:
                    data[crlf:crlf + 2] = rng.choice([b"\n", b"\r"])
            else:  # splice with another input
                other = rng.choice(corpus)
                data = data[:at] + other[rng.randrange(len(other) + 1):]
        return bytes(data)

    inputs = list(corpus)
    for _ in range(3000):
        inputs.append(mutate(rng.choice(corpus)))
    return inputs


FAMILIES = [
    ("content-length", content_length_family),
    ("transfer-encoding", transfer_encoding_family),
    ("chunk sizes", chunk_size_family),
    ("chunk extensions", chunk_extension_family),
    ("trailers", trailer_family),
    ("line endings", line_ending_family),
    ("obs-fold", obs_fold_family),
    ("duplicates", duplicate_family),
    ("pipelining", pipelining_family),
    ("versions", version_family),
    ("random combinations", random_family),
    ("corpus mutations", corpus_family),
]


# ---------------------------------------------------------------------------------------------
# The two parsers


def run_probe(probe, inputs):
    """ssehub's reading of each input, from the probe."""
    stdin = b"".join(base64.b64encode(data) + b"\n" for data in inputs)
    result = subprocess.run([probe], input=stdin, capture_output=True, check=True, timeout=120)
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    if len(outputs) != len(inputs):
        raise SystemExit(f"the probe answered {len(outputs)} of {len(inputs)} inputs: {result.stderr.decode()}")
    readings = []
    for out in outputs:
        requests = [(base64.b64decode(r["method"]), base64.b64decode(r["target"]), base64.b64decode(r["body"]), r["end"])
                    for r in out["requests"]]
        why = f"{out['status']} {out['error']}: {out['detail']}" if out["outcome"] == "refused" else ""
        readings.append({"requests": requests, "outcome": out["outcome"], "why": why})
    return readings


def run_h11(data):
    """h11's reading of one input: the requests it read, then how it stopped."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    requests = []
    current = None
    body = b""
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                return {"requests": requests, "outcome": "incomplete", "why": ""}
            if event is h11.PAUSED:
                return {"requests": requests, "outcome": "closed", "why": "paused"}
            if isinstance(event, h11.Request):
                current, body = event, b""
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                end = len(data) - len(connection.trailing_data[0])
                requests.append((bytes(current.method), bytes(current.target), body, end))
                # A 404: a 2xx to CONNECT would switch h11 to another protocol.
                connection.send(h11.Response(status_code=404, headers=[("Content-Length", "0")]))
                connection.send(h11.EndOfMessage())
                if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
                    connection.start_next_cycle()
                else:
                    return {"requests": requests, "outcome": "closed", "why": "not keep-alive"}
    except h11.RemoteProtocolError as error:
        # The line h11 refused, which it has consumed: the last one before what it left.
        consumed = data[:len(data) - len(connection.trailing_data[0])]
        line = consumed[consumed.rfind(b"\n", 0, len(consumed) - 1) + 1:]
        return {"requests": requests, "outcome": "refused", "why": f"{error.error_status_hint} {error}", "line": line}


# RFC 9112 §7.1.1 and RFC 9110 §5.6: a chunk-size line. Recipients must parse the bad
# whitespace (BWS) around `;` and `=`, and a chunk size may have any number of leading zeros;
# h11 refuses both (BWS at all, more than 20 hex digits).
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_BWS = rb"[ \t]*"
_CHUNK_EXT = rb"(?:" + _BWS + rb";" + _BWS + _TOKEN + rb"(?:" + _BWS + rb"=" + _BWS + rb"(?:" + _TOKEN + rb"|" + \
    _QUOTED + rb"))?)*"
CHUNK_SIZE_LINE = re.compile(rb"[0-9A-Fa-f]+" + _CHUNK_EXT + rb"\r\n")


def h11_refuses_valid_chunk_line(theirs):
    """h11 refused a chunk-size line that RFC 9112 allows (so any conforming parser frames it)."""
    if theirs["outcome"] != "refused" or "illegal chunk header" not in theirs["why"]:
        return False
    return CHUNK_SIZE_LINE.fullmatch(theirs["line"]) is not None


def compare(ours, theirs, continued=None):
    """(verdict, kind): verdict is 'agree', 'allowed', 'violation', or 'pending' when ssehub waits
    for more of a request h11 ended: then `continued`, ssehub's reading of the input with more
    bytes after it (CONTINUATION), decides whether it refuses that request or runs it."""
    s, h = ours["requests"], theirs["requests"]
    for i, (a, b) in enumerate(zip(s, h)):
        if a != b:
            what = "end" if a[3] != b[3] else "body" if a[2] != b[2] else "request line"
            return "violation", f"ssehub ran request {i + 1}, which h11 reads with another {what}"
    n = len(h)
    if len(s) == len(h):
        if ours["outcome"] == theirs["outcome"]:
            return "agree", "same requests, same end"
        if ours["outcome"] == "refused":
            return "allowed", f"ssehub refuses request {n + 1}, h11 {describe(theirs)} ({first_words(ours['why'])})"
        if theirs["outcome"] == "refused" and ours["outcome"] == "incomplete":
            return "allowed", f"h11 refuses request {n + 1}, ssehub waits for more of it"
        return "allowed", f"connection persistence: ssehub {describe(ours)}, h11 {describe(theirs)}"
    if len(s) > len(h):
        if theirs["outcome"] == "closed":
            return "allowed", "connection persistence: h11 closes where ssehub reads another request"
        if theirs["outcome"] == "refused" and "illegal request line" in theirs["why"]:
            # The request line is one line whatever its characters: where the request ends
            # does not depend on them.
            return "allowed", "h11 refuses characters of a request line ssehub accepts (not framing)"
        if h11_refuses_valid_chunk_line(theirs):
            return "allowed", "h11 refuses a chunk-size line RFC 9112 allows (BWS, leading zeros)"
        return "violation", f"ssehub ran request {n + 1}, which h11 {describe(theirs)} ({first_words(theirs['why'])})"
    if ours["outcome"] == "refused":
        return "allowed", f"ssehub refuses a request h11 accepts ({first_words(ours['why'])})"
    if ours["outcome"] == "closed":
        return "allowed", "connection persistence: ssehub closes where h11 reads another request"
    # ssehub waits for more of request len(s) + 1, which h11 ended.
    if continued is None:
        return "pending", ""
    k = len(s)
    if continued["outcome"] == "refused" and len(continued["requests"]) <= k:
        return "allowed", (f"ssehub waits for more of a request h11 ended, then refuses it "
                           f"({first_words(continued['why'])})")
    return "violation", f"ssehub waits for more of request {k + 1}, which h11 ended, then " + (
        "runs it" if len(continued["requests"]) > k else f"{describe(continued)}")


def describe(reading):
    return {"refused": "refuses it", "incomplete": "waits for more of it", "closed": "closes the connection"}[
        reading["outcome"]]


def first_words(why):
    """A refusal's reason without the parts that vary from input to input (after a colon)."""
    parts = why.split(": ")
    return ": ".join(parts[:2]).strip()


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", default=str(ROOT / "build/ssehub_framing_probe"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--show", type=int, default=5, help="violations to print per family")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    families = [(name, make(rng)) for name, make in FAMILIES]
    inputs = [data for _, batch in families for data in batch]
    ours = run_probe(args.probe, inputs)
    print(f"h11 {h11.__version__} against ssehub's RequestReader, {len(inputs)} inputs (seed {args.seed})")

    theirs_all = [run_h11(data) for data in inputs]
    verdicts_all = [compare(s, h) for s, h in zip(ours, theirs_all)]
    pending = [i for i, (verdict, _) in enumerate(verdicts_all) if verdict == "pending"]
    for i, continued in zip(pending, run_probe(args.probe, [inputs[i] + CONTINUATION for i in pending])):
        verdicts_all[i] = compare(ours[i], theirs_all[i], continued)

    passed = failed = 0
    totals = collections.Counter()
    at = 0
    for name, batch in families:
        verdicts = collections.Counter()
        kinds = collections.Counter()
        violations = []
        for data in batch:
            verdict, kind = verdicts_all[at]
            verdicts[verdict] += 1
            if verdict != "agree":
                kinds[(verdict, kind)] += 1
            if verdict == "violation":
                violations.append((data, ours[at], theirs_all[at], kind))
            at += 1
        totals.update(verdicts)
        print(f"\n{name}: {len(batch)} inputs, {verdicts['agree']} agree, {verdicts['allowed']} differ where ssehub "
              f"is stricter, {verdicts['violation']} violations")
        for (verdict, kind), count in kinds.most_common():
            print(f"  {count:5d}  {'VIOLATION: ' if verdict == 'violation' else ''}{kind}")
        for data, s, h, kind in violations[:args.show]:
            print(f"  -- {kind}\n     input  {data!r}\n     ssehub {s}\n     h11    {h}")
        if violations:
            failed += 1
        else:
            passed += 1

    print(f"\nin all: {len(inputs)} inputs, {totals['agree']} agree, {totals['allowed'] + totals['violation']} "
          f"disagree ({totals['allowed']} where ssehub is stricter or closes, {totals['violation']} violations)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
