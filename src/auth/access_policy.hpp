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
  std::string publish_token;  // empty: publishing needs a JWT with kPublishScope (or is open without auth)
};

// How a token's subject must match the user a request names.
enum class SubjectMatch {
  Exact,  // v1-v3 usernames: byte for byte (`alice` is not `ALICE`)
  Uuid,   // v4 user ids: the same UUID, in either case
};

// Who may read which stream and who may publish. Subscribers prove who they are with a JWT
// whose `sub` is the user (Authorization: Bearer, the `ssehub_token` cookie, or ?token=,
// since EventSource cannot set headers). Backends publish with the publish token or, with
// --auth jwt, a JWT whose scope holds `ssehub:publish` (in the Authorization header only:
// a cookie would let any page the user visits publish in their name).
class AccessPolicy {
 public:
  // Throws std::invalid_argument for unusable JWT keys (see JwtVerifier).
  explicit AccessPolicy(AccessSettings settings);

  // nullopt = allowed; otherwise the 401/403 answer.
  std::optional<http::Response> check_subscriber(const http::RequestHead& request,
                                                 std::string_view user,
                                                 SubjectMatch match = SubjectMatch::Exact) const;
  std::optional<http::Response> check_publisher(const http::RequestHead& request) const;
  // Status changes come from the user's page (the user's JWT) or from a backend (publish token
  // or a publishing JWT). `user` is a v4 user id.
  std::optional<http::Response> check_user_or_publisher(const http::RequestHead& request,
                                                        std::string_view user) const;

  // Anyone who can reach the port may read streams (no --auth).
  bool streams_open() const { return !settings_.require_jwt; }
  // Anyone who can reach the port may publish (no --auth and no publish token).
  bool publishing_open() const { return !settings_.require_jwt && settings_.publish_token.empty(); }

 private:
  bool has_publish_token(const http::RequestHead& request) const;
  // A JWT in the Authorization header that grants publishing.
  bool has_publishing_jwt(const http::RequestHead& request) const;

  AccessSettings settings_;
  JwtVerifier verifier_;
};

// The token a request carries: the Authorization header, else ?token=, else the cookie.
std::string bearer_token(const http::RequestHead& request);
// Only the Authorization header's bearer token.
std::string authorization_bearer(const http::RequestHead& request);

}  // namespace ssehub::auth
