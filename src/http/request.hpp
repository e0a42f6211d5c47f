#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssehub::http {

namespace beast_http = boost::beast::http;
using RawRequest = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// A parsed request target: the decoded path and query parameters.
struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;

  // The first value of `name`, decoded; nullopt when absent.
  std::optional<std::string> param(std::string_view name) const;
};

// Splits and percent-decodes a request target. Boost.URL arrived after the Boost shipped
// with Debian 12, so this small decoder is ours. Returns nullopt for malformed escapes.
std::optional<Target> parse_target(std::string_view target);

// Strict UTF-8 check (no overlongs, no surrogates). Hand-written: none of our libraries
// exposes a validator for arbitrary bytes.
bool is_valid_utf8(std::string_view text);

struct Request {
  RawRequest raw;
  Target target;
  boost::asio::ip::tcp::endpoint remote;
};

}  // namespace ssehub::http
