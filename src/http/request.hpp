#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssehub::http {

namespace beast_http = boost::beast::http;
using RawRequest = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// A parsed request target. Routes match the path as sent (raw): decoding it first would let
// `/v2%2Fmessage` reach a route that a proxy's rule on the raw path meant to keep out.
struct Target {
  std::string path;       // raw, as sent: percent-escapes kept
  std::string authority;  // of an absolute-form target (`http://host:port/path`), else empty
  std::vector<std::pair<std::string, std::string>> query;  // decoded

  // The first value of `name`, decoded; nullopt when absent.
  std::optional<std::string> param(std::string_view name) const;
  // The path with its percent-escapes decoded (for file names); nullopt when malformed.
  std::optional<std::string> decoded_path() const;
};

// Splits a request target (origin-form `/path?query`, or absolute-form
// `http://authority/path?query`) and percent-decodes its query. Boost.URL arrived after the
// Boost shipped with Debian 12, so this small decoder is ours. Returns nullopt for malformed
// escapes.
std::optional<Target> parse_target(std::string_view target);

// An absolute-form target `http(s)://authority[/path][?query]` split into its authority and
// the rest (which may be empty); nullopt for anything else (userinfo included).
struct AbsoluteForm {
  std::string_view authority;
  std::string_view path_and_query;
};
std::optional<AbsoluteForm> split_absolute_form(std::string_view target);

// `host[:port]` as in a Host header or a URL's authority (RFC 3986): a registered name, an
// IPv4 address, or an IPv6 literal in brackets. nullopt when it is none of these.
struct Authority {
  std::string_view host;  // brackets kept for IPv6
  std::optional<std::uint16_t> port;
  bool ip_literal = false;  // an IPv4 address or a bracketed IPv6 address
};
std::optional<Authority> parse_authority(std::string_view text);
// The longest authority a connection remembers as checked, so that its next requests skip the
// check (a DNS name's length): a client cannot make a connection keep more of its Host.
constexpr std::size_t kMaxRememberedAuthority = 255;

// What is known of a request once its head is read, before any of its body: enough to
// route and authorise it.
struct RequestHead {
  const beast_http::request_header<>& raw;
  const Target& target;
  boost::asio::ip::tcp::endpoint remote;
};

struct Request {
  RawRequest raw;
  Target target;
  boost::asio::ip::tcp::endpoint remote;
  // This request's share of the bytes buffered for request bodies, released with it.
  std::shared_ptr<void> body_budget;

  RequestHead head() const { return {raw, target, remote}; }
};

}  // namespace ssehub::http
