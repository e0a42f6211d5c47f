#pragma once

#include "http/http_session.hpp"
#include "http/stream_connection.hpp"

#include <boost/beast/core/tcp_stream.hpp>

#include <string_view>

namespace ssehub::http {

// The client connection preface of HTTP/2 (RFC 9113 §3.4): what an h2c client with prior
// knowledge sends first, where an HTTP/1.1 client sends its request line.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Serves HTTP/2 on a connection (nghttp2 does the framing, HPACK, flow control and the
// protocol's own checks). Each stream is a request through the same Router, head-time checks
// and limits as HTTP/1.1; an event stream keeps its HTTP/2 stream (see Http2Stream).
// `received`: bytes already read from the connection (the client preface of an h2c client).
// Call on I/O thread `thread`; the connection holds `client_slot` until it ends.
void serve_http2(boost::beast::tcp_stream stream, std::string_view received,
                 const HttpContext& context, unsigned thread, ClientLimits::Slot client_slot);
void serve_http2(TlsStream stream, std::string_view received, const HttpContext& context,
                 unsigned thread, ClientLimits::Slot client_slot);

// For the TLS context: ALPN offers h2, then http/1.1.
void offer_http2_by_alpn(boost::asio::ssl::context& tls);
// The TLS handshake chose h2.
bool negotiated_http2(TlsStream& stream);

}  // namespace ssehub::http
