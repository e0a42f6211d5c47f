// The HTTP/2 connection's life: nghttp2's session and its settings, reading and writing the
// connection, the idle timer, closing; and serving HTTP/2 on a connection (h2c or h2 by ALPN).
#include "http/http2_connection.hpp"
#include "http/tls.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

namespace {

// The size of the dynamic table of the server's HPACK encoder (RFC 7541 §4.1 counts 32 bytes
// per field besides its name and value): the fields an event stream's response repeats fit.
// The client's table (our decoder's) stays at the protocol's default 4 KiB: a smaller
// SETTINGS_HEADER_TABLE_SIZE breaks clients that never shrink their encoder's (h2spec's does
// not), which nghttp2 then treats as a compression error.
constexpr std::size_t kEncoderTableBytes = 1024;

}  // namespace

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
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, &on_begin_frame);
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
  // The dynamic table the server's HPACK encoder keeps per connection: enough for the fields
  // every event stream's response repeats.
  nghttp2_option_set_max_deflate_dynamic_table_size(option, kEncoderTableBytes);
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

namespace {

// Read buffers lent to the connections of one I/O thread, one read at a time. An idle HTTP/2
// connection (the usual state of one that carries event streams) then holds none; the few
// kept here serve the connections that are reading at the moment.
class ReadBuffers {
 public:
  std::unique_ptr<Http2ReadBuffer> take() {
    if (kept_.empty()) return std::make_unique<Http2ReadBuffer>();
    auto buffer = std::move(kept_.back());
    kept_.pop_back();
    return buffer;
  }
  void give_back(std::unique_ptr<Http2ReadBuffer> buffer) {
    if (buffer && kept_.size() < kKept) kept_.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kKept = 4;
  std::vector<std::unique_ptr<Http2ReadBuffer>> kept_;
};

// Per thread: a connection is read on its own I/O thread only.
thread_local ReadBuffers read_buffers;

}  // namespace

template <class Stream>
void Http2Session<Stream>::do_read() {
  // OpenSSL may hold the rest of a record a read did not take: that is read at once, since
  // the socket would not become readable for it.
  if constexpr (kIsTls<Stream>) {
    if (SSL_has_pending(stream_.native_handle()) == 1) return read_now();
  }
  tcp_layer().socket().async_wait(tcp::socket::wait_read,
                                  [self = this->shared_from_this()](beast::error_code ec) {
                                    if (self->state_ == State::Closed) return;
                                    if (ec) return self->abort();
                                    self->read_now();
                                  });
}

template <class Stream>
void Http2Session<Stream>::read_now() {
  read_buffer_ = read_buffers.take();
  // Over TLS, a readable socket may bring only part of a record, or a record without
  // application data: the read then waits for more, with its buffer.
  stream_.async_read_some(boost::asio::buffer(*read_buffer_),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

template <class Stream>
void Http2Session<Stream>::on_read(beast::error_code ec, std::size_t bytes) {
  auto buffer = std::move(read_buffer_);
  const bool received = state_ != State::Closed && !ec && receive(buffer->data(), bytes);
  read_buffers.give_back(std::move(buffer));
  if (state_ == State::Closed) return;
  if (ec) return abort();  // the client left, or broke TLS: nobody to answer
  if (!received) return;
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
  // Idle connections are the common case: no capacity is kept between writes.
  std::string().swap(write_buffer_);
  if (ec) return abort();
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

// Both transports: the members defined above, and those defined in the class. The others are
// compiled in http2_callbacks.cpp, http2_exchange.cpp and http2_event_stream.cpp.
template class Http2Session<beast::tcp_stream>;
template class Http2Session<TlsStream>;

namespace {

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
