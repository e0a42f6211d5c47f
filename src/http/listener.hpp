#pragma once

#include "http/http_session.hpp"
#include "http/io_pool.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <string>

namespace ssehub::http {

// Accepts connections and spreads them round-robin over the I/O threads; HTTPS only when the
// context carries a TLS context.
class Listener {
 public:
  Listener(IoPool& pool, const HttpContext& context);

  // Binds and listens; throws on failure. Returns the bound port (useful with port 0).
  std::uint16_t bind(const std::string& host, std::uint16_t port);
  void start();
  void stop();  // stop accepting; existing connections carry on

 private:
  void do_accept();

  IoPool& pool_;
  const HttpContext& context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  unsigned next_thread_ = 0;
  std::uint64_t accept_failures_ = 0;  // since the last warning
  std::chrono::steady_clock::time_point last_accept_warning_{};
};

}  // namespace ssehub::http
