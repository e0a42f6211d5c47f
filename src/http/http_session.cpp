#include "http/http_session.hpp"

#include "core/clock.hpp"
#include "http/http2_session.hpp"
#include "http/io_pool.hpp"
#include "http/lingering_close.hpp"
#include "http/request_admission.hpp"
#include "http/request.hpp"
#include "http/request_reader.hpp"
#include "http/response_head.hpp"
#include "http/responses.hpp"
#include "http/router.hpp"
#include "http/stream_connection.hpp"
#include "http/tls.hpp"
#include "http/too_many_connections.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <type_traits>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

namespace {

// A plain HTTP request on the HTTPS port: OpenSSL recognises it in place of a ClientHello.
bool is_plain_http_request(beast::error_code ec) {
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_SSL &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// One HTTP/1.1 connection while it speaks request/response. Stream is beast::tcp_stream or
// TlsStream; the TLS steps (handshake, close_notify, hand-over of the TLS state) are the
// `if constexpr` branches, so the plain connection carries none of them.
template <class Stream>
class HttpSession final : public HttpConnection,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(tcp::socket socket, const HttpContext& context, unsigned thread,
              std::optional<ClientLimits::Slot> client_slot);
  ~HttpSession() override;
  void start();

 private:
  enum class State { Handshaking, ReadingRequest, Handling, Writing, HandedOver, Closed };

  static Stream make_stream(tcp::socket socket, const HttpContext& context) {
    if constexpr (kIsTls<Stream>) {
      return Stream(std::move(socket), context.tls->current());
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void on_handshake(beast::error_code ec);
  // Hands the connection to an HTTP/2 session, with what was read of it.
  void upgrade_to_http2();
  // Starts reading the next request (its bytes may already be in the buffer).
  void do_read_request();
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  // Feeds the buffer to the reader and acts on what it found.
  void process();
  // Routes and authorises a request on its head; false when it answered the request.
  bool admit_head();
  void send_continue();
  void dispatch(RawRequest raw);
  void reply_and_close(Response response, bool counted = false);
  // `counted`: the caller already counted this refusal in the metrics.
  void send(Response response, bool counted = false);
  void on_write(beast::error_code ec, bool keep_alive);
  // The connection's one deadline, for reading a request and writing its answer: moved by a
  // store per request, while one timer wakes at most once per timeout to look at it (beast's
  // own timeouts arm and cancel a timer for every read and write). Every deadline is the
  // request timeout from now, so a new one is never earlier than the timer's wake-up.
  void set_deadline();
  void clear_deadline() { deadline_ = core::SteadyClock::time_point::max(); }
  void wait_for_deadline();
  void on_deadline_timer(beast::error_code ec);
  // Ends the connection after an answer: over TLS with close_notify; after a refusal, with a
  // lingering close (the client may still be sending the request).
  void close();
  // Ends a connection that failed (timeout, reset, broken TLS): nothing more is sent.
  void abort();

  // Valid until the hand-over, after which the exchange is done with the connection.
  boost::asio::any_io_executor executor() override { return stream_.get_executor(); }
  bool secure() const override { return kIsTls<Stream>; }
  void respond(Response response, bool counted) override { send(std::move(response), counted); }
  StreamConnection hand_over() override;
  std::shared_ptr<void> client_slot() const override { return client_slot_; }

  Stream stream_;
  boost::asio::steady_timer deadline_timer_;
  core::SteadyClock::time_point deadline_ = core::SteadyClock::time_point::max();
  bool deadline_timer_waiting_ = false;
  bool timed_out_ = false;  // the deadline passed: the transport was closed under a read or write
  beast::flat_buffer buffer_;
  RequestReader reader_;
  std::optional<Target> target_;                // of the request being read, from its head
  std::shared_ptr<BodyBudget::Share> body_share_;  // its body's share of the server's budget
  std::optional<Response> in_flight_response_;  // being written
  std::string head_;  // its head, as sent; the capacity serves the connection's next answers
  std::optional<core::InProgress::Hold> answering_;  // from dispatch until the answer is written
  // Outlives every session: connections still open when the server stops are destroyed by
  // IoPool::stop, before the server's components go.
  const HttpContext& context_;
  HttpMetrics& metrics_;
  unsigned thread_;
  State state_ = State::ReadingRequest;
  bool request_keep_alive_ = true;
  bool request_is_head_ = false;
  bool refused_;  // the address holds too many connections: answer 429 and close
  bool peer_may_still_send_ = false;  // refused before the request was read whole
  bool may_be_http2_;  // h2c: no byte seen yet that rules out HTTP/2's preface
  std::string allowed_origin_;
  std::string allowed_authority_;  // the host this connection was last allowed
  ClientLimits::Slot client_slot_;  // released when the connection ends
  // Asked once: a getpeername per request was two system calls of about eight per publish.
  tcp::endpoint remote_;
};

template <class Stream>
HttpSession<Stream>::HttpSession(tcp::socket socket, const HttpContext& context, unsigned thread,
                                 std::optional<ClientLimits::Slot> client_slot)
    : stream_(make_stream(std::move(socket), context)),
      deadline_timer_(stream_.get_executor()),
      reader_({.max_header_bytes = context.limits.max_header_bytes,
               .max_framing_bytes = context.limits.max_header_bytes}),
      context_(context),
      metrics_(context.metrics),
      thread_(thread),
      refused_(!client_slot),
      may_be_http2_(context.limits.http2),
      client_slot_(client_slot ? std::move(*client_slot) : nullptr) {
  metrics_.connections_open.add(1);
  boost::system::error_code ignored;
  remote_ = tcp_layer().socket().remote_endpoint(ignored);
}

template <class Stream>
HttpSession<Stream>::~HttpSession() {
  if (state_ != State::HandedOver) metrics_.connections_open.add(-1);
}

template <class Stream>
void HttpSession<Stream>::start() {
  if constexpr (kIsTls<Stream>) {
    // A client that never finishes its handshake is cut off like one that never sends a
    // request.
    state_ = State::Handshaking;
    set_deadline();
    stream_.async_handshake(boost::asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              self->on_handshake(ec);
                            });
  } else {
    // For answers written at once (send); asynchronous operations are unaffected.
    beast::error_code ignored;
    stream_.socket().non_blocking(true, ignored);
    do_read_request();  // a refused plain connection never gets a session (refuse_plain)
  }
}

template <class Stream>
void HttpSession<Stream>::on_handshake(beast::error_code ec) {
  if constexpr (kIsTls<Stream>) {
    if (ec) {
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
      if (!is_plain_http_request(ec)) {
        state_ = State::Closed;
        return tcp_layer().close();
      }
      // Say so in plain text: "connection closed" would leave the operator guessing.
      metrics_.reject(RejectReason::BadRequest);
      state_ = State::Writing;
      static const std::string kAnswer = [] {
        const std::string body =
            R"({"error":"https_required","detail":"this port speaks HTTPS only"})";
        return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
               "Connection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
      }();
      set_deadline();
      boost::asio::async_write(tcp_layer(), boost::asio::buffer(kAnswer),
                               [self = this->shared_from_this()](beast::error_code, std::size_t) {
                                 self->state_ = State::Closed;
                                 beast::error_code ignored;
                                 self->tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
                                 self->tcp_layer().close();
                               });
      return;
    }
    if (context_.limits.http2 && negotiated_http2(stream_)) {
      if (refused_) {
        // No HTTP/1.1 answer to an HTTP/2 client: the connection just ends.
        metrics_.reject(RejectReason::TooManyConnections);
        state_ = State::Closed;
        return tcp_layer().close();
      }
      return upgrade_to_http2();
    }
    if (refused_) {
      metrics_.reject(RejectReason::TooManyConnections);
      return reply_and_close(too_many_connections(), true);
    }
    do_read_request();
  }
}

template <class Stream>
void HttpSession<Stream>::do_read_request() {
  state_ = State::ReadingRequest;
  target_.reset();
  set_deadline();  // the whole request, head and body, must arrive by then
  process();
}

template <class Stream>
void HttpSession<Stream>::do_read() {
  // Reads in pieces of at most 16 KiB: the reader consumes every piece or refuses, so the
  // buffer holds no more than one element (a head, a chunk-size line) plus one piece.
  constexpr std::size_t kReadSize = 16 * 1024;
  stream_.async_read_some(buffer_.prepare(kReadSize),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

template <class Stream>
void HttpSession<Stream>::on_read(beast::error_code ec, std::size_t bytes) {
  buffer_.commit(bytes);
  if (ec) {
    if (timed_out_) {
      if (buffer_.size() > 0 || reader_.consumed() > 0) metrics_.reject(RejectReason::Timeout);
      return abort();
    }
    // A client that left, or a broken TLS record, cannot take an answer.
    return abort();
  }
  process();
}

template <class Stream>
void HttpSession<Stream>::upgrade_to_http2() {
  state_ = State::HandedOver;
  clear_deadline();
  metrics_.connections_open.add(-1);  // the HTTP/2 session counts itself from here
  if constexpr (kIsTls<Stream>) stream_.forget_traffic_secret();  // HTTP/2 streams are never parked
  const std::string_view received(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  serve_http2(std::move(stream_), received, context_, thread_, std::move(client_slot_));
}

template <class Stream>
void HttpSession<Stream>::process() {
  if constexpr (!kIsTls<Stream>) {
    // h2c with prior knowledge: the connection's first bytes are HTTP/2's preface.
    if (may_be_http2_) {
      const std::string_view received(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      const std::size_t compared = std::min(received.size(), kHttp2Preface.size());
      if (received.substr(0, compared) != kHttp2Preface.substr(0, compared)) {
        may_be_http2_ = false;
      } else if (compared == kHttp2Preface.size()) {
        return upgrade_to_http2();
      } else {
        return do_read();
      }
    }
  }
  for (;;) {
    switch (reader_.parse(buffer_)) {
      case RequestReader::Progress::NeedMore:
        if (body_share_ && !body_share_->grow_to(reader_.body_bytes())) {
          metrics_.reject(RejectReason::BodyMemory);
          return reply_and_close(bodies_over_budget(), true);
        }
        return do_read();
      case RequestReader::Progress::HeadReady:
        if (!admit_head()) return;
        continue;
      case RequestReader::Progress::Complete:
        return dispatch(reader_.take_request());
      case RequestReader::Progress::Refused: {
        const Refusal& refusal = reader_.refusal();
        return reply_and_close(json_error(refusal.status, refusal.error, refusal.detail));
      }
    }
  }
}

template <class Stream>
bool HttpSession<Stream>::admit_head() {
  const auto& head = reader_.head();
  const HeadFields& fields = reader_.head_fields();
  request_keep_alive_ = head.keep_alive();
  request_is_head_ = head.method() == beast_http::verb::head;
  allowed_origin_ = context_.cors.allow(fields.origin, fields.host);
  auto refuse = [&](Response response, bool counted = false) {
    reply_and_close(std::move(response), counted);
    return false;
  };
  target_ = parse_target(head.target());
  if (!target_) {
    return refuse(json_error(beast_http::status::bad_request, "bad_request",
                             "malformed percent-encoding in the request target"));
  }
  // An absolute-form target names the host itself (RFC 9112 §3.2.2).
  const std::string_view authority =
      target_->authority.empty() ? fields.host : std::string_view(target_->authority);
  auto admission =
      admit_request_head(context_, head, *target_, authority, remote_, allowed_authority_);
  if (auto* refusal = std::get_if<HeadRefusal>(&admission))
    return refuse(std::move(refusal->response), refusal->counted);
  if (authority != allowed_authority_ && authority.size() <= kMaxRememberedAuthority)
    allowed_authority_.assign(authority);
  // A Content-Length over the route's limit: the reader refuses (413) when called next.
  if (!reader_.read_body(std::get<std::size_t>(admission)) || !reader_.expects_body()) return true;
  body_share_ = context_.bodies.share();
  if (const auto length = reader_.content_length();
      length && !body_share_->grow_to(static_cast<std::size_t>(*length))) {
    metrics_.reject(RejectReason::BodyMemory);
    return refuse(bodies_over_budget(), true);
  }
  // The client waits for our word before sending the body: say it only now that the
  // request is known to be served, and only to a client that can understand it.
  if (head.version() == 11 && beast::iequals(fields.expect, "100-continue")) {
    send_continue();
    return false;
  }
  return true;
}

template <class Stream>
void HttpSession<Stream>::send_continue() {
  auto interim = std::make_shared<beast_http::response<beast_http::empty_body>>(
      beast_http::status::continue_, 11);
  beast_http::async_write(stream_, *interim,
                          [self = this->shared_from_this(), interim](beast::error_code ec, std::size_t) {
                            if (ec) return self->abort();
                            self->process();
                          });
}

template <class Stream>
void HttpSession<Stream>::dispatch(RawRequest raw) {
  state_ = State::Handling;
  answering_.emplace(context_.requests_in_progress);
  clear_deadline();  // a handler may take its time (a stream, a publish waiting for its sync)
  metrics_.requests[Protocol::Http1].add();
  Request request;
  request.raw = std::move(raw);
  request.target = std::move(*target_);
  target_.reset();
  request.body_budget = std::move(body_share_);
  request.remote = remote_;
  auto exchange = std::make_shared<Exchange>(this->shared_from_this(), std::move(request), thread_,
                                             allowed_origin_);
  context_.router.dispatch(exchange);
}

template <class Stream>
void HttpSession<Stream>::reply_and_close(Response response, bool counted) {
  request_keep_alive_ = false;
  peer_may_still_send_ = true;
  request_is_head_ = false;
  state_ = State::Handling;
  answering_.emplace(context_.requests_in_progress);
  send(std::move(response), counted);
}

template <class Stream>
void HttpSession<Stream>::send(Response response, bool counted) {
  if (state_ != State::Handling) return;  // answered twice, or closed meanwhile
  state_ = State::Writing;
  if (auto reason = reject_reason_of(response.result()); reason && !counted)
    metrics_.reject(*reason);
  if (!allowed_origin_.empty()) {
    response.set(beast_http::field::access_control_allow_origin, allowed_origin_);
    response.set(beast_http::field::access_control_expose_headers, "X-Event-Id, Retry-After");
    response.set(beast_http::field::vary, "Origin");
  }
  const bool keep_alive = request_keep_alive_;
  in_flight_response_ = std::move(response);
  // With Server, Connection: close and no Content-Length in a 204 or 304.
  write_head(*in_flight_response_, keep_alive, head_);
  // A HEAD answer is the GET answer's head: its Content-Length (or chunked coding) describes
  // the body that is not sent.
  beast::buffers_suffix<std::array<boost::asio::const_buffer, 2>> unsent(std::array{
      boost::asio::const_buffer(boost::asio::buffer(head_)),
      request_is_head_ ? boost::asio::const_buffer{} : boost::asio::buffer(in_flight_response_->body())});
  if constexpr (!kIsTls<Stream>) {
    // Most answers fit in the socket's buffer. Written at once, they cost no completion
    // handler, no timer and no extra pass of the event loop; whatever the socket does not
    // take goes the asynchronous way below. With a pipelined request already buffered, the
    // answer completes from a handler of its own, so the next request is not served from
    // inside this call.
    beast::error_code ec;
    const std::size_t written = stream_.socket().write_some(unsent, ec);
    // On an error nothing is consumed: the asynchronous write meets it again and reports it.
    if (!ec) unsent.consume(written);
    if (!ec && beast::buffer_bytes(unsent) == 0 && buffer_.size() == 0) return on_write({}, keep_alive);
  }
  set_deadline();
  boost::asio::async_write(stream_, unsent,
                           [self = this->shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                             self->on_write(ec, keep_alive);
                           });
}

template <class Stream>
void HttpSession<Stream>::on_write(beast::error_code ec, bool keep_alive) {
  in_flight_response_.reset();
  answering_.reset();
  if (ec) return abort();
  if (!keep_alive) return close();
  do_read_request();
}

template <class Stream>
void HttpSession<Stream>::set_deadline() {
  deadline_ = core::SteadyClock::now() + context_.limits.request_timeout;
  if (!deadline_timer_waiting_) wait_for_deadline();
}

template <class Stream>
void HttpSession<Stream>::wait_for_deadline() {
  deadline_timer_waiting_ = true;
  deadline_timer_.expires_at(deadline_);
  // Does not keep the session: one that ended is gone before its deadline.
  deadline_timer_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
    if (auto self = weak.lock()) self->on_deadline_timer(ec);
  });
}

template <class Stream>
void HttpSession<Stream>::on_deadline_timer(beast::error_code ec) {
  deadline_timer_waiting_ = false;
  if (ec || deadline_ == core::SteadyClock::time_point::max()) return;  // nothing to time now
  if (core::SteadyClock::now() < deadline_) return wait_for_deadline();
  // As beast's timeout did: the read or write under way fails, and its handler ends the
  // connection.
  timed_out_ = true;
  tcp_layer().close();
}

template <class Stream>
void HttpSession<Stream>::close() {
  if (state_ == State::Closed || state_ == State::HandedOver) return;
  state_ = State::Closed;
  clear_deadline();  // the closing has its own time limit
  if constexpr (kIsTls<Stream>) {
    close_tls(stream_, context_.limits.request_timeout, this->shared_from_this(),
              peer_may_still_send_);
  } else if (peer_may_still_send_) {
    lingering_close(stream_, context_.limits.request_timeout, this->shared_from_this());
  } else {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }
}

template <class Stream>
void HttpSession<Stream>::abort() {
  if constexpr (kIsTls<Stream>) {
    if (state_ == State::Closed || state_ == State::HandedOver) return;
    state_ = State::Closed;
    clear_deadline();
    tcp_layer().close();
  } else {
    close();  // a plain connection ends the same way either way
  }
}

template <class Stream>
StreamConnection HttpSession<Stream>::hand_over() {
  state_ = State::HandedOver;
  clear_deadline();
  answering_.reset();
  metrics_.connections_open.add(-1);  // the stream counts itself from here
  buffer_ = {};
  std::string().swap(head_);
  if constexpr (kIsTls<Stream>) {
    return StreamConnection{std::move(stream_)};
  } else {
    return StreamConnection{stream_.release_socket()};
  }
}

}  // namespace

void serve_http(tcp::socket socket, const HttpContext& context, unsigned thread,
                std::optional<ClientLimits::Slot> client_slot) {
  if (context.tls) {
    // Over TLS the 429 can only be said after the handshake: the session says it.
    std::make_shared<HttpSession<TlsStream>>(std::move(socket), context, thread,
                                             std::move(client_slot))
        ->start();
  } else if (!client_slot) {
    refuse_plain(std::move(socket), context.metrics);
  } else {
    std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), context, thread,
                                                     std::move(client_slot))
        ->start();
  }
}

}  // namespace ssehub::http
