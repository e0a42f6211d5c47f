#pragma once

#include "store/dynamodb/sigv4.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ssehub::store::dynamodb {

// Where an HttpClient sends its requests, from a URL such as
// https://dynamodb.eu-west-1.amazonaws.com.
struct HttpEndpoint {
  std::string url;  // as given, for messages
  bool tls = false;
  std::string host;  // IPv6 literals without brackets
  std::uint16_t port = 0;

  // Accepts http(s)://host[:port] with an optional trailing "/"; throws std::invalid_argument
  // for anything else (a path, a query, credentials, another scheme).
  static HttpEndpoint parse(std::string_view url);
  // The Host header: the port only when it is not the scheme's default (as signers expect).
  std::string host_header() const;
  bool is_loopback() const;
};

struct HttpRequest {
  std::string method = "POST";
  std::string target = "/";
  HeaderList headers;  // sent as given, Host included; the client adds only Content-Length
  std::string body;
};

struct HttpResponse {
  unsigned status = 0;
  HeaderList headers;  // names lowercase
  std::string body;

  // The value of the first header named `name` (lowercase), or "" if there is none.
  std::string_view header(std::string_view name) const;
};

// The request got no complete response.
class HttpError : public std::runtime_error {
 public:
  // Certificate: the server's certificate is not trusted or not for this host, which no retry
  // can fix; Tls: any other handshake failure.
  enum class Kind { Resolve, Connect, Certificate, Tls, Timeout, Io };

  HttpError(Kind kind, bool request_sent, const std::string& message)
      : std::runtime_error(message), kind_(kind), request_sent_(request_sent) {}

  Kind kind() const { return kind_; }
  // True when the failure came after the request started going out, so the server may have
  // acted on it: a retry could repeat its effect.
  bool request_sent() const { return request_sent_; }

 private:
  Kind kind_;
  bool request_sent_;
};

// A small synchronous HTTP/1.1 client for store threads (it blocks; never call it on an I/O
// thread). Keeps a few idle keep-alive connections for reuse; several threads may call send()
// at once, each on a connection of its own. https verifies the server's certificate against
// the system's trust store and its name, and sends SNI.
class HttpClient {
 public:
  explicit HttpClient(HttpEndpoint endpoint, std::size_t max_idle_connections = 16);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and reads the whole response, giving up at `deadline` (connecting
  // included). Any HTTP status is a response; throws HttpError when there is none.
  HttpResponse send(const HttpRequest& request, std::chrono::steady_clock::time_point deadline);

  const HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Impl;

  HttpEndpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssehub::store::dynamodb
