#include "http/http2_session.hpp"

#include "http/io_pool.hpp"
#include "http/responses.hpp"
#include "http/router.hpp"
#include "http/tls.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

namespace {

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// Fields that name a property of an HTTP/1.1 connection; HTTP/2 forbids them (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  return beast::iequals(name, "connection") || beast::iequals(name, "transfer-encoding") ||
         beast::iequals(name, "keep-alive") || beast::iequals(name, "proxy-connection") ||
         beast::iequals(name, "upgrade");
}

// One stream of the connection, from its HEADERS to its close.
struct StreamState {
  std::int32_t id = 0;
  RawRequest raw;
  std::string authority;     // :authority
  std::string path;          // :path
  std::size_t header_bytes = 0;  // as SETTINGS_MAX_HEADER_LIST_SIZE counts them
  std::optional<Target> target;
  std::size_t body_limit = 0;
  std::shared_ptr<BodyBudget::Share> body_share;
  std::string allowed_origin;
  std::chrono::steady_clock::time_point begun;  // its HEADERS arrived
  bool admitted = false;    // the head passed its checks
  bool dispatched = false;  // the request is whole and with its handler
  bool answered = false;    // a response was submitted (or the stream handed over)
  bool discard_body = false;  // refused: DATA still arriving is dropped
  std::optional<core::InProgress::Hold> answering;
  // A plain response's body, handed to nghttp2 as the window allows.
  std::string body;
  std::size_t body_sent = 0;
  // An event stream: what its session asked to write and has not been taken yet.
  bool event_stream = false;
  std::vector<boost::asio::const_buffer> pending;
  std::size_t pending_index = 0;
  std::size_t pending_offset = 0;
  std::function<void(boost::system::error_code)> done;
  std::function<void()> on_close;
};

template <class Stream>
class Http2Session final : public std::enable_shared_from_this<Http2Session<Stream>> {
 public:
  Http2Session(Stream stream, const HttpContext& context, unsigned thread,
               ClientLimits::Slot client_slot);
  ~Http2Session();
  void start(std::string_view received);

  // What an Exchange and an event stream ask of one stream; on the connection's thread.
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  void respond(std::int32_t id, Response response, bool counted);
  std::shared_ptr<Http2Stream> hand_over(std::int32_t id);
  void open_event_stream(std::int32_t id, Response head);
  void watch_event_stream(std::int32_t id, std::function<void()> on_close);
  void write_event_stream(std::int32_t id, std::vector<boost::asio::const_buffer> buffers,
                          std::function<void(boost::system::error_code)> done);
  void reset_stream(std::int32_t id);
  void go_away();
  const ClientLimits::Slot& client_slot() const { return client_slot_; }

 private:
  enum class State { Open, Closed };

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }
  StreamState* find(std::int32_t id) {
    const auto found = streams_.find(id);
    return found == streams_.end() ? nullptr : found->second.get();
  }

  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  // Feeds received bytes to nghttp2; false when the connection must end.
  bool receive(const std::uint8_t* data, std::size_t size);
  // Writes what nghttp2 has to send; ends the connection when neither side wants more.
  void do_write();
  void on_write(beast::error_code ec);
  void arm_idle_timer();
  void close();
  void abort();

  void on_head(StreamState& stream);
  void dispatch(StreamState& stream);
  void refuse(StreamState& stream, Response response, bool counted);
  void submit(StreamState& stream, Response response, bool with_body);
  template <class Fn>
  void post(Fn fn) {
    boost::asio::post(executor(), std::move(fn));
  }

  // nghttp2's callbacks; user_data is the session.
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* user_data);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t len, void* user_data);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* user_data);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags, nghttp2_data_source*,
                           void* user_data);

  Stream stream_;
  const HttpContext& context_;
  HttpMetrics& metrics_;
  unsigned thread_;
  ClientLimits::Slot client_slot_;
  tcp::endpoint remote_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<StreamState>> streams_;
  std::array<std::uint8_t, 8192> read_buffer_;
  std::string write_buffer_;
  bool write_in_flight_ = false;
  bool going_away_ = false;
  bool receiving_ = false;  // inside nghttp2_session_mem_recv
  boost::asio::steady_timer idle_timer_;
  State state_ = State::Open;
};

// An Exchange's view of one stream of an HTTP/2 connection.
template <class Stream>
class Http2Request final : public HttpConnection {
 public:
  Http2Request(std::shared_ptr<Http2Session<Stream>> session, std::int32_t id)
      : session_(std::move(session)), id_(id) {}

 private:
  boost::asio::any_io_executor executor() override { return session_->executor(); }
  bool secure() const override { return kIsTls<Stream>; }
  bool http2() const override { return true; }
  void respond(Response response, bool counted) override {
    session_->respond(id_, std::move(response), counted);
  }
  StreamConnection hand_over() override { return StreamConnection{session_->hand_over(id_)}; }
  std::shared_ptr<void> client_slot() const override { return session_->client_slot(); }

  std::shared_ptr<Http2Session<Stream>> session_;
  std::int32_t id_;
};

// An event stream's hold on its HTTP/2 stream. It does not keep the connection alive: when
// the connection is gone, writes fail and nothing else happens.
template <class Stream>
class Http2EventStream final : public Http2Stream {
 public:
  Http2EventStream(std::weak_ptr<Http2Session<Stream>> session, std::int32_t id,
                   boost::asio::any_io_executor executor)
      : session_(std::move(session)), id_(id), executor_(std::move(executor)) {}

  void open(Response head) override {
    if (auto session = session_.lock()) session->open_event_stream(id_, std::move(head));
  }
  void watch(std::function<void()> on_close) override {
    if (auto session = session_.lock()) return session->watch_event_stream(id_, std::move(on_close));
    boost::asio::post(executor_, std::move(on_close));
  }
  void write(std::vector<boost::asio::const_buffer> buffers,
             std::function<void(boost::system::error_code)> done) override {
    if (auto session = session_.lock()) return session->write_event_stream(id_, std::move(buffers), std::move(done));
    boost::asio::post(executor_, [done = std::move(done)] { done(boost::asio::error::connection_aborted); });
  }
  void reset() override {
    if (auto session = session_.lock()) session->reset_stream(id_);
  }
  void go_away() override {
    if (auto session = session_.lock()) session->go_away();
  }

 private:
  std::weak_ptr<Http2Session<Stream>> session_;
  std::int32_t id_;
  boost::asio::any_io_executor executor_;
};

template <class Stream>
Http2Session<Stream>::Http2Session(Stream stream, const HttpContext& context, unsigned thread,
                                   ClientLimits::Slot client_slot)
    : stream_(std::move(stream)),
      context_(context),
      metrics_(context.metrics),
      thread_(thread),
      client_slot_(std::move(client_slot)),
      idle_timer_(stream_.get_executor()) {
  metrics_.connections_open.add(1);
  metrics_.http2_connections_open.add(1);
  boost::system::error_code ignored;
  remote_ = tcp_layer().socket().remote_endpoint(ignored);

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &on_stream_close);

  // nghttp2's defences against the known HTTP/2 floods, set explicitly so that they are seen
  // and tested here: RST_STREAM (rapid reset, CVE-2023-44487), CONTINUATION frames after a
  // HEADERS (CVE-2024-27316), SETTINGS entries, and answers (PING and SETTINGS ACKs) queued
  // for a client that sends faster than it reads.
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33);
  nghttp2_option_set_max_continuations(option, 8);
  nghttp2_option_set_max_settings(option, 32);
  nghttp2_option_set_max_outbound_ack(option, 1000);
  // The dynamic table the server's HPACK encoder keeps per connection.
  nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);

  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, context.limits.http2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(context.limits.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
}

template <class Stream>
Http2Session<Stream>::~Http2Session() {
  nghttp2_session_del(session_);
  metrics_.connections_open.add(-1);
  metrics_.http2_connections_open.add(-1);
}

template <class Stream>
void Http2Session<Stream>::start(std::string_view received) {
  if (!receive(reinterpret_cast<const std::uint8_t*>(received.data()), received.size())) return;
  do_write();
  arm_idle_timer();
  do_read();
}

template <class Stream>
void Http2Session<Stream>::do_read() {
  stream_.async_read_some(boost::asio::buffer(read_buffer_),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

template <class Stream>
void Http2Session<Stream>::on_read(beast::error_code ec, std::size_t bytes) {
  if (state_ == State::Closed) return;
  if (ec) return abort();  // the client left, or broke TLS: nobody to answer
  if (!receive(read_buffer_.data(), bytes)) return;
  do_write();
  if (state_ == State::Open && nghttp2_session_want_read(session_)) do_read();
}

template <class Stream>
bool Http2Session<Stream>::receive(const std::uint8_t* data, std::size_t size) {
  // Handlers answer from inside nghttp2's callbacks; what they submit is sent afterwards.
  receiving_ = true;
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  receiving_ = false;
  if (rv < 0) {
    // A flood or a bad preface: nghttp2 has queued its GOAWAY where it could.
    spdlog::debug("http2: closing connection: {}", nghttp2_strerror(static_cast<int>(rv)));
    if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      abort();
      return false;
    }
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    do_write();
    return false;
  }
  return true;
}

template <class Stream>
void Http2Session<Stream>::do_write() {
  // nghttp2 must not be asked for output while it is delivering input.
  if (write_in_flight_ || receiving_ || state_ == State::Closed) return;
  write_buffer_.clear();
  // Frames are gathered into one write, up to a bound, so many small frames cost one syscall.
  constexpr std::size_t kMaxWrite = 64 * 1024;
  while (write_buffer_.size() < kMaxWrite) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return abort();
    if (n == 0) break;
    write_buffer_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (write_buffer_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
    return;
  }
  write_in_flight_ = true;
  boost::asio::async_write(stream_, boost::asio::buffer(write_buffer_),
                           [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_write(ec);
                           });
}

template <class Stream>
void Http2Session<Stream>::on_write(beast::error_code ec) {
  write_in_flight_ = false;
  if (ec) return abort();
  if (write_buffer_.capacity() > 64 * 1024) std::string().swap(write_buffer_);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::arm_idle_timer() {
  // A connection without streams is closed after the request timeout, as an idle HTTP/1.1
  // keep-alive connection is; one with streams (event streams above all) is not idle. A
  // request must arrive whole within the timeout, as over HTTP/1.1: a stream still sending
  // its request after that is reset.
  idle_timer_.expires_after(context_.limits.request_timeout);
  idle_timer_.async_wait([weak = this->weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ == State::Closed) return;
    const auto cutoff = std::chrono::steady_clock::now() - self->context_.limits.request_timeout;
    for (const auto& [id, stream] : self->streams_) {
      if (stream->dispatched || stream->answered || stream->begun > cutoff) continue;
      self->metrics_.reject(RejectReason::Timeout);
      stream->answered = true;
      nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    self->do_write();
    if (!self->streams_.empty()) return self->arm_idle_timer();
    nghttp2_session_terminate_session(self->session_, NGHTTP2_NO_ERROR);
    self->do_write();
  });
}

template <class Stream>
void Http2Session<Stream>::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  idle_timer_.cancel();
  if constexpr (kIsTls<Stream>) {
    close_tls(stream_, context_.limits.request_timeout, this->shared_from_this());
  } else {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }
}

template <class Stream>
void Http2Session<Stream>::abort() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  idle_timer_.cancel();
  tcp_layer().close();
  // The event streams learn that their client is gone.
  for (auto& [id, stream] : streams_) {
    if (stream->done) post([done = std::move(stream->done)] { done(boost::asio::error::connection_aborted); });
    if (stream->on_close) post(std::move(stream->on_close));
  }
  streams_.clear();
}

template <class Stream>
int Http2Session<Stream>::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame,
                                           void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_unique<StreamState>();
  stream->id = frame->hd.stream_id;
  stream->begun = std::chrono::steady_clock::now();
  stream->raw.version(20);
  self.streams_[frame->hd.stream_id] = std::move(stream);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_header(nghttp2_session*, const nghttp2_frame* frame,
                                    const std::uint8_t* name, std::size_t namelen,
                                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                                    void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(frame->hd.stream_id);
  if (!stream || frame->hd.type != NGHTTP2_HEADERS) return 0;  // trailers are dropped
  // RFC 9113 §6.5.2 counts 32 bytes per field. Past the limit the fields are not kept (an HPACK
  // bomb expands to nothing held), and the request is answered 431 once its head is whole.
  stream->header_bytes += namelen + valuelen + 32;
  if (stream->header_bytes > self.context_.limits.max_header_bytes) return 0;
  const std::string_view field_name(reinterpret_cast<const char*>(name), namelen);
  const std::string_view field_value(reinterpret_cast<const char*>(value), valuelen);
  if (field_name == ":method") {
    stream->raw.method_string(field_value);
  } else if (field_name == ":path") {
    stream->path = field_value;
  } else if (field_name == ":authority") {
    stream->authority = field_value;
  } else if (field_name.starts_with(':')) {
    // :scheme (nghttp2 has checked the set of pseudo-header fields)
  } else if (field_name == "cookie" && stream->raw.count(beast_http::field::cookie) > 0) {
    // Cookies may come as one field each; they are one field again (RFC 9113 §8.2.3).
    std::string joined(stream->raw[beast_http::field::cookie]);
    joined += "; ";
    joined += field_value;
    stream->raw.set(beast_http::field::cookie, joined);
  } else {
    stream->raw.insert(field_name, field_value);
  }
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame,
                                        void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  StreamState* stream = self.find(frame->hd.stream_id);
  if (!stream) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    self.on_head(*stream);
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && stream->admitted && !stream->answered)
    self.dispatch(*stream);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                                             const std::uint8_t* data, std::size_t len,
                                             void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(stream_id);
  if (!stream || stream->discard_body || !stream->admitted) return 0;
  auto& body = stream->raw.body();
  if (body.size() + len > stream->body_limit) {
    self.refuse(*stream,
                json_error(beast_http::status::payload_too_large, "body_too_large",
                           "the request body is larger than " +
                               std::to_string(stream->body_limit) + " bytes"),
                false);
    return 0;
  }
  if (!stream->body_share) stream->body_share = self.context_.bodies.share();
  if (!stream->body_share->grow_to(body.size() + len)) {
    self.metrics_.reject(RejectReason::BodyMemory);
    auto response = json_error(beast_http::status::service_unavailable, "server_busy",
                               "too many request bodies are being received at once; retry shortly");
    response.set(beast_http::field::retry_after, "1");
    self.refuse(*stream, std::move(response), true);
    return 0;
  }
  body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t,
                                          void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  const auto found = self.streams_.find(stream_id);
  if (found == self.streams_.end()) return 0;
  StreamState& stream = *found->second;
  if (stream.done)
    self.post([done = std::move(stream.done)] { done(boost::asio::error::connection_reset); });
  if (stream.on_close) self.post(std::move(stream.on_close));
  self.streams_.erase(found);
  return 0;
}

template <class Stream>
ssize_t Http2Session<Stream>::read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                                        std::size_t length, std::uint32_t* data_flags,
                                        nghttp2_data_source*, void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(stream_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (!stream->event_stream) {
    const std::size_t n = std::min(length, stream->body.size() - stream->body_sent);
    std::memcpy(buf, stream->body.data() + stream->body_sent, n);
    stream->body_sent += n;
    if (stream->body_sent == stream->body.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      std::string().swap(stream->body);
      stream->answering.reset();
    }
    return static_cast<ssize_t>(n);
  }
  // An event stream: copies what its session wrote, as far as the window allows, and waits
  // (deferred) when nothing is left. Its session hears that the write is done only once all
  // of it is taken, so a client whose window stays shut fills the session's bounded queue.
  std::size_t n = 0;
  while (n < length && stream->pending_index < stream->pending.size()) {
    const auto& piece = stream->pending[stream->pending_index];
    const std::size_t take = std::min(length - n, piece.size() - stream->pending_offset);
    std::memcpy(buf + n, static_cast<const char*>(piece.data()) + stream->pending_offset, take);
    n += take;
    stream->pending_offset += take;
    if (stream->pending_offset == piece.size()) {
      ++stream->pending_index;
      stream->pending_offset = 0;
    }
  }
  if (stream->pending_index == stream->pending.size() && stream->done) {
    stream->pending.clear();
    stream->pending_index = 0;
    self.post([done = std::move(stream->done)] { done({}); });
    stream->done = nullptr;
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

template <class Stream>
void Http2Session<Stream>::on_head(StreamState& stream) {
  if (stream.header_bytes > context_.limits.max_header_bytes) {
    metrics_.requests.add();
    return refuse(stream,
                  json_error(beast_http::status::request_header_fields_too_large,
                             "headers_too_large",
                             "the request's header fields are larger than " +
                                 std::to_string(context_.limits.max_header_bytes) + " bytes"),
                  false);
  }
  // Handlers and the CORS policy read the host from Host.
  if (stream.raw.count(beast_http::field::host) == 0 && !stream.authority.empty())
    stream.raw.set(beast_http::field::host, stream.authority);
  stream.raw.target(stream.path);
  stream.allowed_origin =
      context_.cors.allow(stream.raw[beast_http::field::origin], stream.raw[beast_http::field::host]);
  stream.target = parse_target(stream.path);
  if (!stream.target) {
    metrics_.requests.add();
    return refuse(stream,
                  json_error(beast_http::status::bad_request, "bad_request",
                             "malformed percent-encoding in the request target"),
                  false);
  }
  const std::string_view authority =
      stream.authority.empty() ? stream.raw[beast_http::field::host] : std::string_view(stream.authority);
  auto admission = admit_request_head(context_, stream.raw, *stream.target, authority, remote_);
  if (auto* refusal = std::get_if<HeadRefusal>(&admission)) {
    metrics_.requests.add();
    return refuse(stream, std::move(refusal->response), refusal->counted);
  }
  stream.body_limit = std::get<std::size_t>(admission);
  stream.admitted = true;
  // A declared length over the limit is refused before a byte of the body is read (nghttp2
  // checks that the DATA frames add up to a declared length).
  if (const auto length = stream.raw[beast_http::field::content_length]; !length.empty()) {
    std::size_t declared = 0;
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), declared);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && declared > stream.body_limit)) {
      metrics_.requests.add();
      return refuse(stream,
                    json_error(beast_http::status::payload_too_large, "body_too_large",
                               "the request body is larger than " +
                                   std::to_string(stream.body_limit) + " bytes"),
                    false);
    }
  }
}

template <class Stream>
void Http2Session<Stream>::dispatch(StreamState& stream) {
  stream.dispatched = true;
  stream.answering.emplace(context_.requests_in_progress);
  metrics_.requests.add();
  Request request;
  request.raw = std::move(stream.raw);
  request.target = std::move(*stream.target);
  request.body_budget = std::move(stream.body_share);
  request.remote = remote_;
  request.raw.prepare_payload();  // Content-Length of the body received, as HTTP/1.1 has it
  auto exchange = std::make_shared<Exchange>(
      std::make_shared<Http2Request<Stream>>(this->shared_from_this(), stream.id), std::move(request),
      thread_, stream.allowed_origin);
  context_.router.dispatch(exchange);
}

template <class Stream>
void Http2Session<Stream>::refuse(StreamState& stream, Response response, bool counted) {
  stream.discard_body = true;
  stream.admitted = false;
  std::string().swap(stream.raw.body());
  stream.body_share.reset();
  respond(stream.id, std::move(response), counted);
}

template <class Stream>
void Http2Session<Stream>::respond(std::int32_t id, Response response, bool counted) {
  StreamState* stream = find(id);
  if (!stream || stream->answered || state_ == State::Closed) return;  // answered, or reset
  if (auto reason = reject_reason_of(response.result()); reason && !counted) metrics_.reject(*reason);
  const bool head_only = stream->raw.method() == beast_http::verb::head;
  const auto status = response.result();
  const bool with_body = !head_only && status != beast_http::status::no_content &&
                         status != beast_http::status::not_modified && !response.body().empty();
  submit(*stream, std::move(response), with_body);
  if (!with_body) stream->answering.reset();
  do_write();
}

template <class Stream>
void Http2Session<Stream>::submit(StreamState& stream, Response response, bool with_body) {
  stream.answered = true;
  if (!stream.allowed_origin.empty()) {
    response.set(beast_http::field::access_control_allow_origin, stream.allowed_origin);
    response.set(beast_http::field::access_control_expose_headers, "X-Event-Id, Retry-After");
    response.set(beast_http::field::vary, "Origin");
  }
  if (response.result() == beast_http::status::no_content ||
      response.result() == beast_http::status::not_modified)
    response.erase(beast_http::field::content_length);
  response.set(beast_http::field::server, "ssehub");
  // Names in lower case (RFC 9113 §8.2); nghttp2 copies names and values on submit.
  std::vector<std::string> names;
  names.reserve(std::distance(response.begin(), response.end()));
  std::vector<nghttp2_nv> fields;
  fields.reserve(names.capacity() + 1);
  const std::string status = std::to_string(response.result_int());
  auto field = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  fields.push_back(field(":status", status));
  for (const auto& header : response) {
    if (connection_specific(header.name_string())) continue;
    std::string& name = names.emplace_back(header.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    fields.push_back(field(name, header.value()));
  }
  if (with_body) {
    stream.body = std::move(response.body());
    stream.body_sent = 0;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &read_body;
  const int rv = nghttp2_submit_response(session_, stream.id, fields.data(), fields.size(),
                                         with_body || stream.event_stream ? &provider : nullptr);
  if (rv != 0) spdlog::debug("http2: cannot answer stream {}: {}", stream.id, nghttp2_strerror(rv));
}

template <class Stream>
std::shared_ptr<Http2Stream> Http2Session<Stream>::hand_over(std::int32_t id) {
  if (StreamState* stream = find(id)) stream->answering.reset();
  return std::make_shared<Http2EventStream<Stream>>(this->weak_from_this(), id, executor());
}

template <class Stream>
void Http2Session<Stream>::open_event_stream(std::int32_t id, Response head) {
  StreamState* stream = find(id);
  if (!stream || stream->answered || state_ == State::Closed) return;
  stream->event_stream = true;
  submit(*stream, std::move(head), false);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::watch_event_stream(std::int32_t id, std::function<void()> on_close) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed) return post(std::move(on_close));
  stream->on_close = std::move(on_close);
}

template <class Stream>
void Http2Session<Stream>::write_event_stream(std::int32_t id,
                                              std::vector<boost::asio::const_buffer> buffers,
                                              std::function<void(boost::system::error_code)> done) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed)
    return post([done = std::move(done)] { done(boost::asio::error::connection_reset); });
  if (buffers.empty()) return post([done = std::move(done)] { done({}); });
  stream->pending = std::move(buffers);
  stream->pending_index = 0;
  stream->pending_offset = 0;
  stream->done = std::move(done);
  nghttp2_session_resume_data(session_, id);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::reset_stream(std::int32_t id) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed) return;
  // The event stream ended it, so it is not told. The watch may hold the last reference to
  // the event stream's session, which is inside its close() now: it goes later.
  if (stream->on_close) post([expired = std::move(stream->on_close)] {});
  stream->on_close = nullptr;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::go_away() {
  if (going_away_ || state_ == State::Closed) return;
  going_away_ = true;
  // Streams already open are answered (or reset by their sessions); no new one is taken.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  do_write();
}

template <class Stream>
void start_session(Stream stream, std::string_view received, const HttpContext& context,
                   unsigned thread, ClientLimits::Slot client_slot) {
  // Event streams stay open for hours: Beast's timeouts would cut them, so none is set here.
  beast::get_lowest_layer(stream).expires_never();
  std::make_shared<Http2Session<Stream>>(std::move(stream), context, thread, std::move(client_slot))
      ->start(received);
}

// ALPN: the client's list, in its order of preference, against ours (h2 first).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static constexpr unsigned char kProtocols[] = "\x02h2\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProtocols, sizeof kProtocols - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: carry on without ALPN (HTTP/1.1)
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void serve_http2(beast::tcp_stream stream, std::string_view received, const HttpContext& context,
                 unsigned thread, ClientLimits::Slot client_slot) {
  start_session(std::move(stream), received, context, thread, std::move(client_slot));
}

void serve_http2(TlsStream stream, std::string_view received, const HttpContext& context,
                 unsigned thread, ClientLimits::Slot client_slot) {
  start_session(std::move(stream), received, context, thread, std::move(client_slot));
}

void offer_http2_by_alpn(boost::asio::ssl::context& tls) {
  SSL_CTX_set_alpn_select_cb(tls.native_handle(), &select_alpn, nullptr);
}

bool negotiated_http2(TlsStream& stream) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream.native_handle(), &protocol, &length);
  return length == 2 && std::memcmp(protocol, "h2", 2) == 0;
}

}  // namespace ssehub::http
