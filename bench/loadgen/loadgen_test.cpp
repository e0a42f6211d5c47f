// Checks of the load generator's parsers: every input is also fed split at every byte, since
// a socket can deliver any split.
#include <cstdio>
#include <string>
#include <vector>

#include "chunked_decoder.hpp"
#include "histogram.hpp"
#include "response_head.hpp"
#include "sse_parser.hpp"
#include "text_template.hpp"

using namespace loadgen;

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const char* what, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAIL line %d: %s\n", line, what);
  }
}
#define CHECK(x) check((x), #x, __LINE__)

std::vector<SseEvent> parse_sse(const std::string& text, size_t split) {
  SseParser parser;
  std::vector<SseEvent> out;
  auto sink = [&](const SseEvent& e) { out.push_back(e); };
  parser.feed(text.data(), split, sink);
  parser.feed(text.data() + split, text.size() - split, sink);
  return out;
}

void SseEventsAreFoundWhateverTheSplit() {
  const std::string stream =
      ": welcome comment\r\n\r\n"
      "id: 7\r\nevent: message\r\ndata: r=42;t=1000;n=5\r\n\r\n"
      "data:r=42;t=2000;n=6\n\n"
      "retry: 100\rdata: x=1 r=42 t=3000 n=7 rt=9\r\rdata\n\n"
      "data: {\"text\":\"r=43;t=4000;n=8\"}\n"
      "data: second line\n\n"
      "dat: r=1\n\n"
      "data: r=42;t=";
  for (size_t split = 0; split <= stream.size(); ++split) {
    std::vector<SseEvent> ev = parse_sse(stream, split);
    bool ok = ev.size() == 5 && ev[0].run == 42 && ev[0].sent_ns == 1000 && ev[0].user == 5 &&
              ev[1].run == 42 && ev[1].sent_ns == 2000 && ev[1].user == 6 && ev[2].run == 42 &&
              ev[2].sent_ns == 3000 && ev[2].user == 7 && !ev[3].has_run && ev[4].run == 43 &&
              ev[4].sent_ns == 4000 && ev[4].user == 8;
    if (!ok) {
      std::printf("  split at %zu gave %zu events\n", split, ev.size());
      CHECK(ok);
      return;
    }
  }
  CHECK(true);
}

void CommentsAndKeepAlivesAreNotEvents() {
  std::vector<SseEvent> ev = parse_sse(":\n\n: ping\n\n\n\nid: 3\n\n", 3);
  CHECK(ev.empty());
}

std::string dechunk(const std::string& in, size_t split, ChunkedDecoder::Status* last) {
  ChunkedDecoder d;
  std::string out;
  auto sink = [&](const char* p, size_t n) { out.append(p, n); };
  ChunkedDecoder::Result r = d.feed(in.data(), split, sink);
  if (r.status == ChunkedDecoder::Status::Ok)
    r = d.feed(in.data() + split, in.size() - split, sink);
  *last = r.status;
  return out;
}

void ChunkedBodiesDecodeWhateverTheSplit() {
  const std::string body =
      "5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t split = 0; split <= body.size(); ++split) {
    ChunkedDecoder::Status st;
    std::string out = dechunk(body, split, &st);
    if (out != "helloabcdefghijklmnopqrstuvwxyz" || st != ChunkedDecoder::Status::End) {
      std::printf("  split at %zu gave '%s'\n", split, out.c_str());
      CHECK(false);
      return;
    }
  }
  CHECK(true);
}

void ChunkedEndLeavesTheNextMessageUnread() {
  const std::string two = "0\r\n\r\nHTTP/1.1";
  ChunkedDecoder d;
  ChunkedDecoder::Result r = d.feed(two.data(), two.size(), [](const char*, size_t) {});
  CHECK(r.status == ChunkedDecoder::Status::End && r.consumed == 5);
}

void BadChunkSizeIsAnError() {
  ChunkedDecoder::Status st;
  dechunk("zz\r\n", 1, &st);
  CHECK(st == ChunkedDecoder::Status::Error);
}

void ResponseHeadIsParsedWhateverTheSplit() {
  const std::string resp =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
      "Connection: keep-alive\r\n\r\n5\r\nhello";
  const size_t head_len = resp.find("\r\n\r\n") + 4;
  for (size_t split = 0; split <= resp.size(); ++split) {
    ResponseHead h;
    size_t used = 0;
    ResponseHead::Result r = h.feed(resp.data(), split);
    used += r.consumed;
    if (r.status == ResponseHead::Status::NeedMore) {
      r = h.feed(resp.data() + split, resp.size() - split);
      used += r.consumed;
    }
    if (r.status != ResponseHead::Status::Done || used != head_len || h.status_code() != 200 ||
        h.framing() != BodyFraming::Chunked || !h.keep_alive()) {
      std::printf("  split at %zu: used %zu of %zu\n", split, used, head_len);
      CHECK(false);
      return;
    }
  }
  CHECK(true);
}

void ResponseFramingFollowsTheHeaders() {
  ResponseHead h;
  std::string a = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  CHECK(h.feed(a.data(), a.size()).status == ResponseHead::Status::Done &&
        h.framing() == BodyFraming::None);
  h.reset();
  std::string b = "HTTP/1.1 201 Created\r\ncontent-length: 12\r\n\r\n";
  CHECK(h.feed(b.data(), b.size()).status == ResponseHead::Status::Done &&
        h.framing() == BodyFraming::Length && h.content_length() == 12);
  h.reset();
  std::string c = "HTTP/1.0 200 OK\r\n\r\n";
  CHECK(h.feed(c.data(), c.size()).status == ResponseHead::Status::Done &&
        h.framing() == BodyFraming::UntilClose && !h.keep_alive());
  h.reset();
  std::string d = "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  CHECK(h.feed(d.data(), d.size()).status == ResponseHead::Status::Done && h.status_code() == 403 &&
        !h.keep_alive());
  h.reset();
  std::string e = "garbage\r\n\r\n";
  CHECK(h.feed(e.data(), e.size()).status == ResponseHead::Status::Error);
}

void TemplatesExpandPlaceholdersOnly() {
  TextTemplate t("{\"items\":[{\"channel\":\"u{n}\",\"x\":\"r={r};t={t};s={seq}{z}\"}]}");
  std::string out = t.expand(TemplateValues{5, 123, 9, 77});
  CHECK(out == "{\"items\":[{\"channel\":\"u5\",\"x\":\"r=9;t=123;s=77{z}\"}]}");
  UrlTemplate u = UrlTemplate::parse("http://127.0.0.1:3000/v2/sse?username=u{n}");
  CHECK(u.port == 3000 && u.host_header == "127.0.0.1:3000");
  CHECK(u.target.expand(TemplateValues{12, 0, 0, 0}) == "/v2/sse?username=u12");
}

void HistogramQuantilesAreWithinOnePercent() {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);
  auto near = [](uint64_t got, double want) { return got > want * 0.99 && got < want * 1.01; };
  CHECK(near(h.quantile(0.5), 50e6));
  CHECK(near(h.quantile(0.99), 99e6));
  CHECK(near(h.quantile(0.999), 99.9e6));
  CHECK(h.max() == 100000000 && h.count() == 100000);
  Histogram small;
  small.record(3);
  CHECK(small.quantile(0.5) == 3);
}

}  // namespace

int main() {
  SseEventsAreFoundWhateverTheSplit();
  CommentsAndKeepAlivesAreNotEvents();
  ChunkedBodiesDecodeWhateverTheSplit();
  ChunkedEndLeavesTheNextMessageUnread();
  BadChunkSizeIsAnError();
  ResponseHeadIsParsedWhateverTheSplit();
  ResponseFramingFollowsTheHeaders();
  TemplatesExpandPlaceholdersOnly();
  HistogramQuantilesAreWithinOnePercent();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
