#include "http/cors.hpp"

#include "http/request.hpp"

#include <optional>

namespace ssehub::http {

namespace {

// The authority of an origin as browsers send it: `http(s)://host[:port]`, nothing else
// (no userinfo, path or trailing text). nullopt for any other shape, which no browser sends:
// `http://[::1].evil.com` and `http://localhost:@evil.com` must not pass for localhost.
std::optional<Authority> origin_authority(std::string_view origin) {
  std::string_view rest;
  if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else {
    return std::nullopt;
  }
  auto authority = parse_authority(rest);
  if (!authority) return std::nullopt;
  // Reject what parse_authority allows in a Host but an origin never holds.
  if (rest.find_first_of("%!$&'()*+,;=~_") != std::string_view::npos) return std::nullopt;
  return authority;
}

bool is_loopback_name(std::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

}  // namespace

std::string CorsPolicy::allow(std::string_view origin, std::string_view host) const {
  if (origin.empty()) return {};
  if (!allowed_.empty()) {
    for (const auto& entry : allowed_) {
      if (entry == "*") return "*";
      if (entry == origin) return std::string(origin);
    }
    return {};
  }
  const auto authority = origin_authority(origin);
  if (!authority) return {};
  if (is_loopback_name(authority->host)) return std::string(origin);
  // The page's own origin: the same authority the request was sent to.
  const std::size_t scheme = origin.find("://");
  if (origin.substr(scheme + 3) == host) return std::string(origin);
  return {};
}

}  // namespace ssehub::http
