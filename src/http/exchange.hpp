#pragma once

#include "http/request.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

namespace ssehub::http {

class HttpConnection;
struct StreamConnection;  // http/stream_connection.hpp

// One request in flight and the means to answer it: exactly one of respond() or
// take_connection() ends it. Handlers may keep it and respond later from any thread.
class Exchange {
 public:
  Exchange(std::shared_ptr<HttpConnection> connection, Request request, unsigned thread,
           std::string allowed_origin);

  const Request& request() const { return request_; }
  // A HEAD request: the answer is sent without its body, and no stream is started.
  bool head_only() const { return request_.raw.method() == beast_http::verb::head; }
  const Target& target() const { return request_.target; }
  unsigned thread() const { return thread_; }
  boost::asio::any_io_executor executor() const;
  // Access-Control-Allow-Origin for this request, empty when the origin is not allowed.
  const std::string& allowed_origin() const { return allowed_origin_; }
  // The request came over TLS; take_connection() then hands over a TLS stream.
  bool secure() const;
  // The request came on an HTTP/2 stream; take_connection() then hands over that stream.
  bool http2() const;

  // An error status counts in ssehub_requests_rejected_total, unless the answer is the
  // request's outcome rather than a refusal (a /readyz that says "not ready").
  enum class Outcome { ByStatus, NotARefusal };
  void respond(Response response, Outcome outcome = Outcome::ByStatus);
  // Hands the connection over (to a stream); call on the exchange's own thread.
  StreamConnection take_connection();
  // The client address's connection slot, to be held by whoever holds the connection.
  std::shared_ptr<void> connection_slot() const;

 private:
  std::shared_ptr<HttpConnection> connection_;
  Request request_;
  unsigned thread_;
  std::string allowed_origin_;
};
using ExchangePtr = std::shared_ptr<Exchange>;

}  // namespace ssehub::http
