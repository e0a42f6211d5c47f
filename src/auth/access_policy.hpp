#pragma once

#include "auth/jwt_verifier.hpp"
#include "http/request.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ssehub::auth {

struct AccessSettings {
  bool require_jwt = false;  // --auth jwt
  JwtKeys jwt;
  std::string publish_token;  // empty = publishing is open
};

// Who may read which stream and who may publish. Subscribers prove who they are with a JWT
// whose `sub` is the user (Authorization: Bearer, the `ssehub_token` cookie, or ?token=,
// since EventSource cannot set headers). Backends publish with the publish token.
class AccessPolicy {
 public:
  explicit AccessPolicy(AccessSettings settings);

  // nullopt = allowed; otherwise the 401/403 answer.
  std::optional<http::Response> check_subscriber(const http::Request& request,
                                                 std::string_view user) const;
  std::optional<http::Response> check_publisher(const http::Request& request) const;
  // Status changes come from the user's page (JWT) or from a backend (publish token).
  std::optional<http::Response> check_user_or_publisher(const http::Request& request,
                                                        std::string_view user) const;

  bool open() const { return !settings_.require_jwt && settings_.publish_token.empty(); }

 private:
  bool has_publish_token(const http::Request& request) const;

  AccessSettings settings_;
  JwtVerifier verifier_;
};

// The token a request carries: the Authorization header, else ?token=, else the cookie.
std::string bearer_token(const http::Request& request);
// Only the Authorization header's bearer token.
std::string authorization_bearer(const http::Request& request);

}  // namespace ssehub::auth
