#include "http/http_session.hpp"

#include "http/responses.hpp"
#include "http/io_pool.hpp"
#include "http/router.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace ssehub::http {

namespace beast = boost::beast;

namespace {

std::optional<RejectReason> reject_reason_of(beast_http::status status) {
  switch (status) {
    case beast_http::status::bad_request: return RejectReason::BadRequest;
    case beast_http::status::not_found: return RejectReason::NotFound;
    case beast_http::status::method_not_allowed: return RejectReason::MethodNotAllowed;
    case beast_http::status::payload_too_large: return RejectReason::BodyTooLarge;
    case beast_http::status::request_header_fields_too_large: return RejectReason::HeadersTooLarge;
    case beast_http::status::too_many_requests: return RejectReason::TooManyStreams;
    case beast_http::status::request_timeout: return RejectReason::Timeout;
    case beast_http::status::service_unavailable: return RejectReason::Unavailable;
    case beast_http::status::conflict: return RejectReason::Conflict;
    case beast_http::status::unauthorized: return RejectReason::Unauthenticated;
    case beast_http::status::forbidden: return RejectReason::Forbidden;
    default: return std::nullopt;
  }
}

}  // namespace

Exchange::Exchange(std::shared_ptr<HttpSession> session, Request request, unsigned thread,
                   std::string allowed_origin)
    : session_(std::move(session)),
      request_(std::move(request)),
      thread_(thread),
      allowed_origin_(std::move(allowed_origin)) {}

boost::asio::any_io_executor Exchange::executor() const { return session_->stream_.get_executor(); }

void Exchange::respond(Response response) {
  if (IoPool::current_index() == thread_) {
    session_->send(std::move(response));
  } else {
    boost::asio::post(session_->stream_.get_executor(), [session = session_, response = std::move(response)]() mutable {
      session->send(std::move(response));
    });
  }
}

boost::asio::ip::tcp::socket Exchange::take_socket() { return session_->hand_over(); }

std::shared_ptr<void> Exchange::connection_slot() const { return session_->client_slot_; }

HttpSession::HttpSession(boost::asio::ip::tcp::socket socket, const HttpContext& context,
                         unsigned thread, ClientLimits::Slot client_slot)
    : stream_(std::move(socket)), context_(context), thread_(thread),
      client_slot_(std::move(client_slot)) {
  context_.metrics.connections_open.add(1);
}

HttpSession::~HttpSession() {
  if (state_ != State::HandedOver) context_.metrics.connections_open.add(-1);
}

void HttpSession::start() { do_read_header(); }

void HttpSession::do_read_header() {
  state_ = State::ReadingRequest;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(context_.limits.max_header_bytes));
  parser_->body_limit(context_.limits.max_body_bytes);
  stream_.expires_after(context_.limits.request_timeout);
  beast_http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read_header(ec); });
}

void HttpSession::on_read_header(beast::error_code ec) {
  if (ec) {
    if (ec == beast_http::error::header_limit)
      return reply_and_close(json_error(beast_http::status::request_header_fields_too_large,
                                        "headers_too_large",
                                        "request headers exceed " +
                                            std::to_string(context_.limits.max_header_bytes) +
                                            " bytes"));
    if (ec == beast_http::error::body_limit)
      return reply_and_close(json_error(
          beast_http::status::payload_too_large, "body_too_large",
          "request body exceeds " + std::to_string(context_.limits.max_body_bytes) + " bytes"));
    if (ec == beast::error::timeout) {
      if (buffer_.size() > 0 || parser_->got_some()) context_.metrics.reject(RejectReason::Timeout);
      return close();
    }
    if (ec == beast_http::error::end_of_stream || ec == boost::asio::error::eof ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset)
      return close();
    return reply_and_close(
        json_error(beast_http::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message()));
  }
  auto& header = parser_->get();
  if (beast::iequals(header[beast_http::field::expect], "100-continue")) {
    // The client waits for our word before sending the body: answer now, before it
    // spends bandwidth on a body we would refuse.
    auto interim = std::make_shared<beast_http::response<beast_http::empty_body>>(
        beast_http::status::continue_, 11);
    beast_http::async_write(stream_, *interim,
                            [self = shared_from_this(), interim](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->do_read_body();
                            });
    return;
  }
  do_read_body();
}

void HttpSession::do_read_body() {
  if (parser_->is_done()) return dispatch();
  stream_.expires_after(context_.limits.request_timeout);
  beast_http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read_body(ec); });
}

void HttpSession::on_read_body(beast::error_code ec) {
  if (ec) {
    if (ec == beast_http::error::body_limit)
      return reply_and_close(json_error(
          beast_http::status::payload_too_large, "body_too_large",
          "request body exceeds " + std::to_string(context_.limits.max_body_bytes) + " bytes"));
    if (ec == beast::error::timeout) {
      context_.metrics.reject(RejectReason::Timeout);
      return close();
    }
    if (ec == beast_http::error::end_of_stream || ec == boost::asio::error::eof ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset)
      return close();
    return reply_and_close(json_error(beast_http::status::bad_request, "bad_request",
                                      "malformed HTTP request body: " + ec.message()));
  }
  dispatch();
}

void HttpSession::dispatch() {
  state_ = State::Handling;
  stream_.expires_never();
  context_.metrics.http_requests.add();
  Request request;
  request.raw = parser_->release();
  parser_.reset();
  request_keep_alive_ = request.raw.keep_alive();
  request_is_head_ = request.raw.method() == beast_http::verb::head;
  boost::system::error_code ignored;
  request.remote = stream_.socket().remote_endpoint(ignored);
  allowed_origin_ = context_.cors.allow(request.raw[beast_http::field::origin],
                                        request.raw[beast_http::field::host]);
  if (auto wait = context_.clients.take_request(request.remote.address())) {
    context_.metrics.reject(RejectReason::RateLimited);
    auto response = json_error(beast_http::status::too_many_requests, "rate_limited",
                               "too many requests from this address; retry after " +
                                   std::to_string(wait->count()) + " s");
    response.set(beast_http::field::retry_after, std::to_string(wait->count()));
    return send(std::move(response), true);
  }
  auto target = parse_target(request.raw.target());
  if (!target) {
    return send(json_error(beast_http::status::bad_request, "bad_request",
                           "malformed percent-encoding in the request target"));
  }
  request.target = std::move(*target);
  auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(request), thread_,
                                             allowed_origin_);
  context_.router.dispatch(exchange);
}

void HttpSession::reply_and_close(Response response) {
  request_keep_alive_ = false;
  request_is_head_ = false;
  state_ = State::Handling;
  send(std::move(response));
}

void HttpSession::send(Response response, bool counted) {
  if (state_ != State::Handling) return;  // answered twice, or closed meanwhile
  state_ = State::Writing;
  if (auto reason = reject_reason_of(response.result()); reason && !counted)
    context_.metrics.reject(*reason);
  if (!allowed_origin_.empty()) {
    response.set(beast_http::field::access_control_allow_origin, allowed_origin_);
    response.set(beast_http::field::access_control_expose_headers, "X-Event-Id, Retry-After");
    response.set(beast_http::field::vary, "Origin");
  }
  if (request_is_head_) {
    // A HEAD answer ends after its headers; its Content-Length still describes the body.
    response.content_length(response.body().size());
    response.body().clear();
  }
  response.set(beast_http::field::server, "ssehub");
  const bool keep_alive = request_keep_alive_;
  response.keep_alive(keep_alive);
  auto message = std::make_shared<Response>(std::move(response));
  in_flight_response_ = message;
  stream_.expires_after(context_.limits.request_timeout);
  beast_http::async_write(stream_, *message,
                          [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                            self->on_write(ec, keep_alive);
                          });
}

void HttpSession::on_write(beast::error_code ec, bool keep_alive) {
  in_flight_response_.reset();
  if (ec || !keep_alive) return close();
  do_read_header();
}

void HttpSession::close() {
  if (state_ == State::Closed || state_ == State::HandedOver) return;
  state_ = State::Closed;
  beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  stream_.close();
}

boost::asio::ip::tcp::socket HttpSession::hand_over() {
  state_ = State::HandedOver;
  context_.metrics.connections_open.add(-1);  // the stream counts itself from here
  buffer_ = {};
  return stream_.release_socket();
}

}  // namespace ssehub::http
