#pragma once

#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <memory>

namespace ssehub::http {

// Closes a connection whose peer may still be sending: a request refused before it was read
// whole (a body over the limit, refused on its Content-Length). Closing a socket with unread
// input makes the kernel reset the connection, and the reset can destroy the answer before
// the client has read it: the client sees EPIPE or ECONNRESET instead of the 413. So, as
// nginx's lingering close does, this shuts down the sending side, then reads and discards
// until the peer closes, for at most `limit` and 16 MiB, and then closes. Over TLS, call it
// on the TCP layer once close_notify is out: what still comes is discarded undecrypted.
// `owner` keeps `stream` alive until then. Call with no read or write in flight.
void lingering_close(boost::beast::tcp_stream& stream, std::chrono::steady_clock::duration limit,
                     std::shared_ptr<void> owner);

}  // namespace ssehub::http
