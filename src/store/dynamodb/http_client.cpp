#include "store/dynamodb/http_client.hpp"

#include "core/text.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace ssehub::store::dynamodb {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Deadline = std::chrono::steady_clock::time_point;

namespace {

// DynamoDB pages are at most 1 MB; anything far larger is not a DynamoDB answer.
constexpr std::size_t kMaxResponseBytes = 16 * 1024 * 1024;

std::uint16_t default_port(bool tls) {
  return tls ? 443 : 80;
}

}  // namespace

HttpEndpoint HttpEndpoint::parse(std::string_view url) {
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument("endpoint `" + std::string(url) + "`: " + std::string(why));
  };
  HttpEndpoint endpoint;
  endpoint.url = std::string(url);
  const std::string lower = core::lowercase(url);
  std::string_view rest = url;
  if (lower.starts_with("https://")) {
    endpoint.tls = true;
    rest.remove_prefix(8);
  } else if (lower.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    throw invalid("must start with http:// or https://");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos)
    throw invalid("must be scheme://host[:port], without path, query or credentials");

  std::string_view host = rest;
  std::optional<std::string_view> port_text;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) throw invalid("unterminated [IPv6 address]");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw invalid("unexpected text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.find(':', colon + 1) != std::string_view::npos)
      throw invalid("an IPv6 address must be written in brackets");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  if (host.empty()) throw invalid("has no host");
  endpoint.host = std::string(host);

  endpoint.port = default_port(endpoint.tls);
  if (port_text) {
    unsigned port = 0;
    const auto [end, error] =
        std::from_chars(port_text->data(), port_text->data() + port_text->size(), port);
    if (error != std::errc() || end != port_text->data() + port_text->size() || port == 0 ||
        port > 65535)
      throw invalid("has an invalid port");
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  return endpoint;
}

std::string HttpEndpoint::host_header() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != default_port(tls)) out += ":" + std::to_string(port);
  return out;
}

bool HttpEndpoint::is_loopback() const {
  if (core::lowercase(host) == "localhost") return true;
  error_code ec;
  const auto address = net::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::string_view HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return {};
}

namespace {

// One connection and the io_context its operations run on. Only the thread that took it from
// the pool touches it, so it needs no locking; its io_context is run by that thread alone.
struct Connection {
  net::io_context io{1};
  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> secure;
  beast::flat_buffer buffer;

  tcp::socket& socket() { return secure ? secure->next_layer() : *plain; }

  // Runs the operation started just before until it calls back or the deadline passes. On the
  // deadline the socket is closed, which ends the operation (operation_aborted) at once, so
  // nothing outlives the call.
  bool run_until_done(const bool& done, Deadline deadline) {
    io.restart();
    while (!done && io.run_one_until(deadline) > 0) {
    }
    if (done) return true;
    error_code ignored;
    socket().close(ignored);
    io.restart();
    io.run();
    return false;
  }

  // An idle keep-alive connection is reusable only if the server has neither closed it nor
  // sent anything since the last response (a close_notify or stray bytes mean it is done).
  bool still_usable() {
    if (buffer.size() > 0) return false;
    if (secure && SSL_pending(secure->native_handle()) > 0) return false;
    char byte;
    const ssize_t peeked = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

std::vector<tcp::endpoint> resolve(const HttpEndpoint& endpoint, Deadline deadline) {
  error_code ec;
  const auto literal = net::ip::make_address(endpoint.host, ec);
  if (!ec) return {tcp::endpoint(literal, endpoint.port)};

  using Result = std::pair<error_code, std::vector<tcp::endpoint>>;
  auto result = std::make_shared<std::promise<Result>>();
  auto future = result->get_future();
  // getaddrinfo cannot be cancelled, so it runs on a thread of its own that can outlive a
  // caller who stops waiting at the deadline. Only new connections resolve, which is rare.
  try {
    std::thread([result, host = endpoint.host, port = std::to_string(endpoint.port)] {
      net::io_context io;
      tcp::resolver resolver(io);
      error_code error;
      const auto found = resolver.resolve(host, port, error);
      std::vector<tcp::endpoint> addresses;
      for (const auto& entry : found) addresses.push_back(entry.endpoint());
      result->set_value({error, std::move(addresses)});
    }).detach();
  } catch (const std::system_error& e) {
    throw HttpError(HttpError::Kind::Resolve, false,
                    "cannot resolve " + endpoint.host + ": " + e.what());
  }
  if (future.wait_until(deadline) != std::future_status::ready)
    throw HttpError(HttpError::Kind::Timeout, false, "timed out resolving " + endpoint.host);
  auto [error, addresses] = future.get();
  if (error)
    throw HttpError(HttpError::Kind::Resolve, false,
                    "cannot resolve " + endpoint.host + ": " + error.message());
  return addresses;
}

// Resolves, connects and, for https, completes a verified TLS handshake, all by `deadline`.
std::unique_ptr<Connection> open_connection(const HttpEndpoint& endpoint, ssl::context* tls,
                                            Deadline deadline) {
  const auto addresses = resolve(endpoint, deadline);
  auto connection = std::make_unique<Connection>();
  if (tls)
    connection->secure.emplace(connection->io, *tls);
  else
    connection->plain.emplace(connection->io);

  error_code ec;
  bool done = false;
  net::async_connect(connection->socket(), addresses,
                     [&](const error_code& error, const tcp::endpoint&) {
                       ec = error;
                       done = true;
                     });
  const std::string where = endpoint.host_header();
  if (!connection->run_until_done(done, deadline))
    throw HttpError(HttpError::Kind::Timeout, false, "timed out connecting to " + where);
  if (ec) throw HttpError(HttpError::Kind::Connect, false, ec.message());
  // Requests are small and answered one at a time; Nagle would only add latency.
  connection->socket().set_option(tcp::no_delay(true), ec);

  if (connection->secure) {
    auto& stream = *connection->secure;
    // SNI carries names only (RFC 6066); a certificate for an IP literal is still verified.
    error_code not_an_address;
    net::ip::make_address(endpoint.host, not_an_address);
    if (not_an_address) SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str());
    stream.set_verify_callback(ssl::host_name_verification(endpoint.host));
    done = false;
    stream.async_handshake(ssl::stream_base::client, [&](const error_code& error) {
      ec = error;
      done = true;
    });
    if (!connection->run_until_done(done, deadline))
      throw HttpError(HttpError::Kind::Timeout, false,
                      "timed out in the TLS handshake with " + where);
    if (ec) {
      const bool rejected = ec.category() == net::error::get_ssl_category() &&
                            ERR_GET_REASON(ec.value()) == SSL_R_CERTIFICATE_VERIFY_FAILED;
      throw HttpError(rejected ? HttpError::Kind::Certificate : HttpError::Kind::Tls, false,
                      "TLS handshake with " + where + " failed: " + ec.message());
    }
  }
  return connection;
}

// Writes `message` and reads the whole response. Returns the response and whether the
// connection may carry another request.
template <typename Stream>
std::pair<HttpResponse, bool> exchange(Connection& connection, Stream& stream,
                                       const http::request<http::string_body>& message,
                                       Deadline deadline) {
  error_code ec;
  bool done = false;
  http::async_write(stream, message, [&](const error_code& error, std::size_t) {
    ec = error;
    done = true;
  });
  if (!connection.run_until_done(done, deadline))
    throw HttpError(HttpError::Kind::Timeout, true, "timed out sending the request");
  if (ec) throw HttpError(HttpError::Kind::Io, true, "sending the request failed: " + ec.message());

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  done = false;
  http::async_read(stream, connection.buffer, parser, [&](const error_code& error, std::size_t) {
    ec = error;
    done = true;
  });
  if (!connection.run_until_done(done, deadline))
    throw HttpError(HttpError::Kind::Timeout, true, "timed out waiting for the response");
  if (ec)
    throw HttpError(HttpError::Kind::Io, true, "reading the response failed: " + ec.message());

  auto& message_in = parser.get();
  HttpResponse response;
  response.status = message_in.result_int();
  for (const auto& field : message_in)
    response.headers.emplace_back(core::lowercase(field.name_string()), std::string(field.value()));
  const bool reusable = message_in.keep_alive();
  response.body = std::move(message_in.body());
  return {std::move(response), reusable};
}

}  // namespace

// The pool of idle connections, shared by the threads calling send().
struct HttpClient::Impl {
  std::optional<ssl::context> tls;
  std::size_t max_idle = 0;
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;

  std::unique_ptr<Connection> take_idle_connection();
  void keep_idle_connection(std::unique_ptr<Connection> connection);
};

HttpClient::HttpClient(HttpEndpoint endpoint, std::size_t max_idle_connections)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>()) {
  impl_->max_idle = max_idle_connections;
  if (endpoint_.tls) {
    impl_->tls.emplace(ssl::context::tls_client);
    impl_->tls->set_default_verify_paths();
    impl_->tls->set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_min_proto_version(impl_->tls->native_handle(), TLS1_2_VERSION);
  }
}

HttpClient::~HttpClient() = default;

std::unique_ptr<Connection> HttpClient::Impl::take_idle_connection() {
  std::vector<std::unique_ptr<Connection>> stale;  // closed outside the lock
  std::unique_ptr<Connection> usable;
  {
    std::lock_guard lock(mutex);
    while (!idle.empty() && !usable) {
      auto candidate = std::move(idle.back());
      idle.pop_back();
      if (candidate->still_usable())
        usable = std::move(candidate);
      else
        stale.push_back(std::move(candidate));
    }
  }
  return usable;
}

void HttpClient::Impl::keep_idle_connection(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex);
  if (idle.size() < max_idle) idle.push_back(std::move(connection));
  // else the connection closes here: more threads were busy at once than the pool keeps
}

HttpResponse HttpClient::send(const HttpRequest& request, Deadline deadline) {
  std::unique_ptr<Connection> connection = impl_->take_idle_connection();
  if (!connection)
    connection = open_connection(endpoint_, impl_->tls ? &*impl_->tls : nullptr, deadline);

  http::request<http::string_body> message;
  message.method_string(request.method);
  message.target(request.target);
  message.version(11);
  for (const auto& [name, value] : request.headers) message.insert(name, value);
  message.body() = request.body;
  message.prepare_payload();

  auto [response, reusable] = connection->secure
                                  ? exchange(*connection, *connection->secure, message, deadline)
                                  : exchange(*connection, *connection->plain, message, deadline);
  if (reusable) impl_->keep_idle_connection(std::move(connection));
  return std::move(response);
}

}  // namespace ssehub::store::dynamodb
