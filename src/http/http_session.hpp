#pragma once

#include "core/in_progress.hpp"
#include "http/body_budget.hpp"
#include "http/client_limits.hpp"
#include "http/cors.hpp"
#include "http/exchange.hpp"
#include "http/host_policy.hpp"
#include "http/http_metrics.hpp"
#include "http/tls.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace boost::asio::ssl {
class context;
}

namespace ssehub::http {

class Router;

struct HttpLimits {
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds request_timeout{10000};
  // HTTP/2 on the same port: h2c with prior knowledge, and h2 by ALPN over TLS.
  bool http2 = false;
  std::uint32_t http2_max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
};

// What every connection shares; lives as long as the server.
struct HttpContext {
  const Router& router;
  const CorsPolicy& cors;
  const HostPolicy& hosts;
  HttpLimits limits;
  HttpMetrics& metrics;
  ClientLimits& clients;
  BodyBudget& bodies;
  // Requests taken in and not yet answered in full (the answer written, or the connection
  // handed over or gone): what a stopping server waits for.
  core::InProgress& requests_in_progress;
  // Set: every connection speaks HTTPS (the handshake must finish within request_timeout).
  const TlsContextSlot* tls = nullptr;
};

// What an Exchange sees of the connection its request came on, whatever the transport.
class HttpConnection {
 public:
  virtual ~HttpConnection() = default;

 private:
  friend class Exchange;
  // Valid until the hand-over, after which the exchange is done with the connection.
  virtual boost::asio::any_io_executor executor() = 0;
  virtual bool secure() const = 0;
  virtual bool http2() const { return false; }
  virtual void respond(Response response, bool counted) = 0;  // on the connection's thread
  virtual StreamConnection hand_over() = 0;
  virtual std::shared_ptr<void> client_slot() const = 0;
};

// Serves HTTP/1.1 (keep-alive, pipelining) on an accepted connection, on I/O thread `thread`
// (call it there), over TLS when context.tls is set. A stream leaves through
// Exchange::take_connection, so the parser and buffer are freed when a connection becomes a
// long-lived stream. Without a `client_slot` the address holds too many connections: the
// client is answered 429 (after the handshake, over TLS) and the connection closed.
void serve_http(boost::asio::ip::tcp::socket socket, const HttpContext& context, unsigned thread,
                std::optional<ClientLimits::Slot> client_slot);

}  // namespace ssehub::http
