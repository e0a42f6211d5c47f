// The 429 answers to an address that holds too many connections.
#pragma once

#include "http/http_metrics.hpp"
#include "http/request.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace ssehub::http {

// The answer, over HTTP/1.1 on a connection that has a session (over TLS, after the handshake).
Response too_many_connections();

// Answers 429 and closes, at the cost of one static string: the address holds too many
// connections, and may be trying to exhaust the server's.
void refuse_plain(boost::asio::ip::tcp::socket socket, HttpMetrics& metrics);

}  // namespace ssehub::http
