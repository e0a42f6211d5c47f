#pragma once

#include "http/request.hpp"
#include "http/tls_stream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <functional>
#include <memory>
#include <variant>
#include <vector>

namespace ssehub::http {

// One HTTP/2 stream of a connection, handed over to a long-lived response (an event stream).
// All calls on the connection's thread. The response never ends by itself: it ends with
// reset() (RST_STREAM), or when the client resets the stream or the connection goes.
class Http2Stream {
 public:
  virtual ~Http2Stream() = default;
  // Sends the response's HEADERS (its body is what write() is given).
  virtual void open(Response head) = 0;
  // `on_close` is posted once when the stream ends for any reason other than reset(): at
  // once if it has ended already.
  virtual void watch(std::function<void()> on_close) = 0;
  // Queues `buffers` as DATA (they must stay valid until `done`), as the stream's flow-control
  // window allows; `done` is posted once nghttp2 has taken all of them, or with an error when
  // the stream ended first.
  virtual void write(std::vector<boost::asio::const_buffer> buffers,
                     std::function<void(boost::system::error_code)> done) = 0;
  virtual void reset() = 0;
  // The connection's part of a stopping server: GOAWAY, so the client opens its next
  // streams elsewhere.
  virtual void go_away() = 0;
};

// A connection handed from HTTP to a long-lived stream. A plain one is its bare socket (no
// timer, nothing buffered); a TLS one is the whole TLS stream, whose session state is bound
// to the stream type it was made with; an HTTP/2 one is one stream of a connection that
// stays with its session.
struct StreamConnection {
  std::variant<boost::asio::ip::tcp::socket, TlsStream, std::shared_ptr<Http2Stream>> transport;
};

}  // namespace ssehub::http
