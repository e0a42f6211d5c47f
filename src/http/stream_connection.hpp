#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <variant>

namespace ssehub::http {

// A TLS connection: OpenSSL over a TCP stream with Beast's timeouts.
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// A connection handed from HTTP to a long-lived stream. A plain one is its bare socket (no
// timer, nothing buffered); a TLS one is the whole TLS stream, whose session state is bound
// to the stream type it was made with.
struct StreamConnection {
  std::variant<boost::asio::ip::tcp::socket, TlsStream> transport;
};

}  // namespace ssehub::http
