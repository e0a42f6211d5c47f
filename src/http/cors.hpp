#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ssehub::http {

// Which browser origins may read ssehub's responses. Default: the server's own origin and
// localhost origins (any port); or an explicit allowlist; or "*" for any.
class CorsPolicy {
 public:
  explicit CorsPolicy(std::vector<std::string> allowed) : allowed_(std::move(allowed)) {}

  // The value for Access-Control-Allow-Origin, or empty when `origin` is not allowed.
  std::string allow(std::string_view origin, std::string_view host) const;

 private:
  std::vector<std::string> allowed_;
};

}  // namespace ssehub::http
