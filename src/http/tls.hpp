#pragma once

#include "http/stream_connection.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace ssehub::http {

// The server side of HTTPS: TLS 1.2 and later, OpenSSL's default ciphers, no compression, no
// renegotiation, resumption by session tickets (no per-client state on the server), the
// certificate chain and private key from PEM files. Throws std::runtime_error naming the file
// when one cannot be read, or when the key does not belong to the certificate. `http2`: ALPN
// offers h2 before http/1.1. `park_idle_streams`: connections keep their TLS 1.3 server
// traffic secret until their SSE stream is parked (TlsStream::park). Reads files: call it off
// the I/O threads.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& certificate_file,
                                                            const std::string& key_file,
                                                            bool http2 = false,
                                                            bool park_idle_streams = false);

// The TLS context new connections are made with. replace() (a certificate reload) affects only
// the connections accepted after it: each TlsStream holds the context it was made with.
class TlsContextSlot {
 public:
  explicit TlsContextSlot(std::shared_ptr<boost::asio::ssl::context> context) : current_(std::move(context)) {}
  std::shared_ptr<boost::asio::ssl::context> current() const { return current_.load(); }  // any thread
  void replace(std::shared_ptr<boost::asio::ssl::context> context) { current_.store(std::move(context)); }

 private:
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> current_;
};

// Sends close_notify, bounded by `timeout`, and closes the TCP connection. It does not wait
// for the peer's close_notify (RFC 8446 6.1 allows that), so a silent peer cannot hold the
// connection open. `peer_may_still_send`: the request was refused before it was read whole,
// so the TCP connection ends with a lingering close (see lingering_close.hpp). `owner` keeps
// `stream` alive until then. Call with no write in flight.
void close_tls(TlsStream& stream, std::chrono::milliseconds timeout, std::shared_ptr<void> owner,
               bool peer_may_still_send = false);

}  // namespace ssehub::http
