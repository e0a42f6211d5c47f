#pragma once

#include "http/client_limits.hpp"
#include "http/cors.hpp"
#include "http/exchange.hpp"
#include "metrics/metrics.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace ssehub::http {

class Router;

struct HttpLimits {
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds request_timeout{10000};
};

// What every connection shares; lives as long as the server.
struct HttpContext {
  const Router& router;
  const CorsPolicy& cors;
  HttpLimits limits;
  Metrics& metrics;
  ClientLimits& clients;
};

// One HTTP/1.1 connection while it speaks request/response (keep-alive, pipelining).
// Streams leave it through Exchange::take_socket, so its parser and buffer are freed
// when a connection becomes a long-lived stream.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, const HttpContext& context, unsigned thread,
              ClientLimits::Slot client_slot);
  ~HttpSession();
  void start();

 private:
  friend class Exchange;
  enum class State { ReadingRequest, Handling, Writing, HandedOver, Closed };

  void do_read_header();
  void on_read_header(boost::beast::error_code ec);
  void do_read_body();
  void on_read_body(boost::beast::error_code ec);
  void dispatch();
  void reply_and_close(Response response);
  // `counted`: the caller already counted this refusal in the metrics.
  void send(Response response, bool counted = false);
  void on_write(boost::beast::error_code ec, bool keep_alive);
  void close();
  boost::asio::ip::tcp::socket hand_over();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::shared_ptr<void> in_flight_response_;
  const HttpContext& context_;
  unsigned thread_;
  State state_ = State::ReadingRequest;
  bool request_keep_alive_ = true;
  bool request_is_head_ = false;
  std::string allowed_origin_;
  ClientLimits::Slot client_slot_;  // released when the connection ends
};

}  // namespace ssehub::http
