#include "http/listener.hpp"


#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace ssehub::http {

using boost::asio::ip::tcp;

Listener::Listener(IoPool& pool, const HttpContext& context)
    : pool_(pool), context_(context), acceptor_(pool.context(0)), backoff_(pool.context(0)) {}

std::uint16_t Listener::bind(const std::string& host, std::uint16_t port) {
  const auto address = boost::asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host);
  const tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(boost::asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void Listener::start() {
  boost::asio::post(acceptor_.get_executor(), [this] { do_accept(); });
}

void Listener::stop() {
  boost::asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    backoff_.cancel();
  });
}

void Listener::do_accept() {
  const unsigned thread = next_thread_;
  next_thread_ = (next_thread_ + 1) % pool_.size();
  acceptor_.async_accept(pool_.context(thread), [this, thread](boost::system::error_code ec,
                                                               tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors (or similar): retrying at once would spin, so pause and let
      // connections close. Said at most once a second, with how often it happened since.
      ++accept_failures_;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_accept_warning_ >= std::chrono::seconds(1)) {
        spdlog::warn("http: accept failed {} time(s) in the last second: {}; pausing 100 ms each",
                     accept_failures_, ec.message());
        accept_failures_ = 0;
        last_accept_warning_ = now;
      }
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec) do_accept();
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto slot = context_.clients.acquire_connection(socket.remote_endpoint(ignored).address());
    // The session must start on its own thread: post it there.
    boost::asio::post(pool_.context(thread), [this, thread, socket = std::move(socket),
                                              slot = std::move(slot)]() mutable {
      serve_http(std::move(socket), context_, thread, std::move(slot));
    });
    do_accept();
  });
}

}  // namespace ssehub::http
