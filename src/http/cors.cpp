#include "http/cors.hpp"

namespace ssehub::http {

namespace {

// The host part of "scheme://host[:port]", brackets kept for IPv6.
std::string_view origin_host(std::string_view origin) {
  const std::size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = origin.substr(scheme + 3);
  if (rest.starts_with('[')) return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
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
  const std::string_view origin_hostname = origin_host(origin);
  if (origin_hostname == "localhost" || origin_hostname == "127.0.0.1" ||
      origin_hostname == "[::1]")
    return std::string(origin);
  const std::size_t scheme = origin.find("://");
  if (scheme != std::string_view::npos && origin.substr(scheme + 3) == host)
    return std::string(origin);
  return {};
}

}  // namespace ssehub::http
