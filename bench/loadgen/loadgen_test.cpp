// Checks of the load generator's parsers: every input is also fed split at every byte, since
// a socket can deliver any split. Its HTTP/2 client is checked against nghttp2's own server
// session on the other end of a socket pair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "chunked_decoder.hpp"
#include "h2_client.hpp"
#include "histogram.hpp"
#include "options.hpp"
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

void PubHeadersSplitForHttp2() {
  auto h = split_header_line("Content-Type: \t application/json");
  CHECK(h.first == "content-type" && h.second == "application/json");
  h = split_header_line("X-Empty:");
  CHECK(h.first == "x-empty" && h.second.empty());
  h = split_header_line("Authorization: Bearer a:b");  // only the first colon splits
  CHECK(h.first == "authorization" && h.second == "Bearer a:b");
  for (const char* bad : {"no colon", ": no name"}) {
    bool refused = false;
    try {
      split_header_line(bad);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
  }
}

// nghttp2's server session on one end of a socket pair: it answers each request with the
// status and DATA frames of the next entry of `answers`, one frame per piece, or resets it.
class H2TestServer {
 public:
  struct Answer {
    int status = 200;
    std::vector<std::string> pieces;
    bool refuse = false;  // RST_STREAM REFUSED_STREAM instead of a response
  };

  H2TestServer(int fd, std::vector<Answer> answers) : fd_(fd), answers_(std::move(answers)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_server_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2TestServer() { nghttp2_session_del(session_); }

  // Reads what the client sent, answers, writes.
  void pump() {
    char buf[16384];
    for (ssize_t n; (n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), size_t(n));
    nghttp2_session_send(session_);
  }

 private:
  static ssize_t send(nghttp2_session*, const uint8_t* data, size_t len, int, void* self) {
    return ::send(static_cast<H2TestServer*>(self)->fd_, data, len, MSG_NOSIGNAL);
  }

  static ssize_t read_piece(nghttp2_session*, int32_t, uint8_t* buf, size_t, uint32_t* flags,
                            nghttp2_data_source* source, void*) {
    auto* answer = static_cast<Answer*>(source->ptr);
    if (answer->pieces.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    std::string piece = answer->pieces.front();
    answer->pieces.erase(answer->pieces.begin());
    std::memcpy(buf, piece.data(), piece.size());
    return ssize_t(piece.size());
  }

  static int on_frame(nghttp2_session* session, const nghttp2_frame* frame, void* self_ptr) {
    auto* self = static_cast<H2TestServer*>(self_ptr);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Answer& answer = self->answers_.at(self->next_++);
    if (answer.refuse) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    std::string status = std::to_string(answer.status);
    nghttp2_nv nv{reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
                  reinterpret_cast<uint8_t*>(status.data()), 7, status.size(),
                  NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider provider{};
    provider.source.ptr = &answer;
    provider.read_callback = read_piece;
    nghttp2_submit_response(session, frame->hd.stream_id, &nv, 1, &provider);
    return 0;
  }

  int fd_;
  std::vector<Answer> answers_;
  size_t next_ = 0;
  nghttp2_session* session_ = nullptr;
};

// What the client reported for one request.
struct H2Seen {
  int status = 0;
  bool head = false;
  bool data_before_head = false;
  bool closed = false;
  uint32_t close_code = 0xffffffff;
  SseParser sse;
  std::vector<SseEvent> events;
};

class H2Recorder final : public H2Client::Handler {
 public:
  void on_status(void* r, int status) override { seen(r).status = status; }
  void on_response_head(void* r) override { seen(r).head = true; }
  void on_data(void* r, const char* data, size_t len) override {
    H2Seen& s = seen(r);
    if (!s.head) s.data_before_head = true;
    s.sse.feed(data, len, [&](const SseEvent& e) { s.events.push_back(e); });
  }
  void on_close(void* r, uint32_t code) override {
    seen(r).closed = true;
    seen(r).close_code = code;
  }

 private:
  static H2Seen& seen(void* r) { return *static_cast<H2Seen*>(r); }
};

nghttp2_nv test_header(const char* name, const char* value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value)), std::strlen(name),
          std::strlen(value), NGHTTP2_NV_FLAG_NONE};
}

void H2ClientHandsOverStatusDataAndClose() {
  int fds[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  // One event split over three DATA frames, a 404, and a refused stream.
  H2TestServer server(fds[1], {{200, {"data: r=5 t=", "7 n=9\n", "\n: keep-alive\n\n"}, false},
                               {404, {}, false},
                               {200, {}, true}});
  H2Recorder recorder;
  H2Client client;
  client.start(fds[0], recorder);
  const nghttp2_nv get[] = {test_header(":method", "GET"), test_header(":scheme", "http"),
                            test_header(":authority", "test"), test_header(":path", "/sse")};
  H2Seen seen[3];
  for (H2Seen& s : seen) CHECK(client.submit(get, 4, nullptr, &s) > 0);
  char buf[512];  // small, so that a read can end inside a frame
  bool alive = client.flush();
  for (int round = 0; round < 20 && alive; ++round) {
    server.pump();
    alive = client.on_io(buf, sizeof buf, false);
  }
  CHECK(alive);
  CHECK(seen[0].status == 200 && seen[0].head && !seen[0].data_before_head);
  CHECK(seen[0].events.size() == 1);
  if (seen[0].events.size() == 1) {
    const SseEvent& e = seen[0].events[0];
    CHECK(e.has_run && e.run == 5 && e.has_time && e.sent_ns == 7 && e.has_user && e.user == 9);
  }
  CHECK(seen[0].closed && seen[0].close_code == NGHTTP2_NO_ERROR);
  CHECK(seen[1].status == 404 && seen[1].head && seen[1].closed);
  CHECK(seen[2].status == 0 && !seen[2].head && seen[2].closed &&
        seen[2].close_code == NGHTTP2_REFUSED_STREAM);

  // A stream the client resets reports nothing more; a closed socket ends the connection.
  H2Seen forgotten;
  int32_t id = client.submit(get, 4, nullptr, &forgotten);
  client.reset(id);
  CHECK(client.flush());
  close(fds[1]);
  CHECK(!client.on_io(buf, sizeof buf, true));
  CHECK(!forgotten.closed && forgotten.status == 0);
  client.stop();
  close(fds[0]);
}

void SlowLogFlagsAreReadAndANegativeThresholdRefused() {
  auto parse = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"ssehub-loadgen", "--pub-url", "http://127.0.0.1:1/p"});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    Options options;
    parse_options(int(argv.size()), argv.data(), options);
    return options;
  };
  const Options off = parse({});
  CHECK(off.slow_log.empty());
  const Options on = parse({"--slow-log", "/tmp/slow.txt", "--slow-ms=0.25"});
  CHECK(on.slow_log == "/tmp/slow.txt" && on.slow_ms == 0.25);
  for (const char* bad : {"-1", "inf", "nan", "1e30"}) {
    bool refused = false;
    try {
      parse({"--slow-ms", bad});
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
  }
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
  PubHeadersSplitForHttp2();
  H2ClientHandsOverStatusDataAndClose();
  SlowLogFlagsAreReadAndANegativeThresholdRefused();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
