// The 429 answers to an address that holds too many connections.
#include "http/too_many_connections.hpp"

#include "http/responses.hpp"

#include <boost/asio/write.hpp>

#include <memory>
#include <string>

namespace ssehub::http {

using boost::asio::ip::tcp;

Response too_many_connections() {
  auto response = json_error(beast_http::status::too_many_requests, "too_many_connections",
                             "this address holds too many connections");
  response.set(beast_http::field::retry_after, "5");
  return response;
}

void refuse_plain(tcp::socket socket, HttpMetrics& metrics) {
  metrics.reject(RejectReason::TooManyConnections);
  static const std::string kRefusal = [] {
    const std::string body =
        R"({"error":"too_many_connections","detail":"this address holds too many connections"})";
    return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
           "Retry-After: 5\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  auto owned = std::make_shared<tcp::socket>(std::move(socket));
  boost::asio::async_write(*owned, boost::asio::buffer(kRefusal),
                           [owned](boost::system::error_code, std::size_t) {
                             boost::system::error_code ignored;
                             owned->shutdown(tcp::socket::shutdown_both, ignored);
                           });
}

}  // namespace ssehub::http
