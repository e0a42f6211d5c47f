#include "auth/access_policy.hpp"

#include "http/responses.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace ssehub::auth {

namespace beast_http = boost::beast::http;

namespace {

constexpr std::string_view kCookieName = "ssehub_token";

http::Response unauthenticated(const std::string& detail) {
  auto response = http::json_error(beast_http::status::unauthorized, "unauthenticated", detail);
  response.set(beast_http::field::www_authenticate, "Bearer");
  return response;
}

http::Response forbidden(const std::string& detail) {
  return http::json_error(beast_http::status::forbidden, "forbidden", detail);
}

std::string_view cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    const std::size_t end = cookies.find(';');
    std::string_view pair = cookies.substr(0, end);
    cookies = end == std::string_view::npos ? std::string_view{} : cookies.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
  }
  return {};
}

// Compares in time independent of where (and whether) the inputs differ: both sides are
// hashed first, so even their lengths do not leak.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char hash_a[SHA256_DIGEST_LENGTH], hash_b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), hash_a);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hash_b);
  return CRYPTO_memcmp(hash_a, hash_b, SHA256_DIGEST_LENGTH) == 0;
}

}  // namespace

std::string authorization_bearer(const http::Request& request) {
  const std::string_view authorization = request.raw[beast_http::field::authorization];
  if (authorization.size() > 7 && boost::beast::iequals(authorization.substr(0, 7), "Bearer "))
    return std::string(authorization.substr(7));
  return {};
}

std::string bearer_token(const http::Request& request) {
  if (auto header = authorization_bearer(request); !header.empty()) return header;
  // The URL's token before the cookie: a page puts its fresh token in the EventSource URL,
  // and a stale cookie must not hide it.
  if (auto query = request.target.param("token"); query && !query->empty()) return *query;
  return std::string(cookie_value(request.raw[beast_http::field::cookie], kCookieName));
}

AccessPolicy::AccessPolicy(AccessSettings settings)
    : settings_(std::move(settings)), verifier_(settings_.jwt) {}

std::optional<http::Response> AccessPolicy::check_subscriber(const http::Request& request,
                                                             std::string_view user) const {
  if (!settings_.require_jwt) return std::nullopt;
  const std::string token = bearer_token(request);
  if (token.empty())
    return unauthenticated("a JWT is required (Authorization: Bearer, cookie ssehub_token, or ?token=)");
  const auto result = verifier_.verify(token);
  if (!result.ok) return unauthenticated("invalid token: " + result.error);
  // v4 users are UUIDs, canonical (lowercase) in the URL; a token may spell them in capitals.
  const bool same_user = result.subject == user ||
                         (user.size() == 36 && boost::beast::iequals(result.subject, user));
  if (!same_user) return forbidden("the token's subject is not this user");
  return std::nullopt;
}

bool AccessPolicy::has_publish_token(const http::Request& request) const {
  // Headers only: a backend secret in a URL or a cookie ends up in logs and browsers.
  std::string_view offered = request.raw["X-Publish-Token"];
  std::string bearer;
  if (offered.empty()) {
    bearer = authorization_bearer(request);
    offered = bearer;
  }
  return !offered.empty() && constant_time_equal(offered, settings_.publish_token);
}

std::optional<http::Response> AccessPolicy::check_publisher(const http::Request& request) const {
  if (settings_.publish_token.empty()) return std::nullopt;
  if (has_publish_token(request)) return std::nullopt;
  return unauthenticated("publishing needs the publish token (Authorization: Bearer or X-Publish-Token)");
}

std::optional<http::Response> AccessPolicy::check_user_or_publisher(const http::Request& request,
                                                                    std::string_view user) const {
  if (!settings_.publish_token.empty() && has_publish_token(request)) return std::nullopt;
  if (settings_.require_jwt) return check_subscriber(request, user);
  if (!settings_.publish_token.empty())
    return unauthenticated("changing a report needs the publish token or the user's JWT");
  return std::nullopt;
}

}  // namespace ssehub::auth
