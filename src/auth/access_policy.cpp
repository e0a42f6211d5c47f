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

std::string authorization_bearer(const http::RequestHead& request) {
  const std::string_view authorization = request.raw[beast_http::field::authorization];
  if (authorization.size() > 7 && boost::beast::iequals(authorization.substr(0, 7), "Bearer "))
    return std::string(authorization.substr(7));
  return {};
}

std::string bearer_token(const http::RequestHead& request) {
  if (auto header = authorization_bearer(request); !header.empty()) return header;
  // The URL's token before the cookie: a page puts its fresh token in the EventSource URL,
  // and a stale cookie must not hide it.
  if (auto query = request.target.param("token"); query && !query->empty()) return *query;
  return std::string(cookie_value(request.raw[beast_http::field::cookie], kCookieName));
}

AccessPolicy::AccessPolicy(AccessSettings settings)
    : settings_(std::move(settings)), verifier_(settings_.jwt) {}

std::optional<http::Response> AccessPolicy::check_subscriber(const http::RequestHead& request,
                                                             std::string_view user,
                                                             SubjectMatch match) const {
  if (!settings_.require_jwt) return std::nullopt;
  const std::string token = bearer_token(request);
  if (token.empty())
    return unauthenticated("a JWT is required (Authorization: Bearer, cookie ssehub_token, or ?token=)");
  const auto result = verifier_.verify(token);
  if (!result.ok) return unauthenticated("invalid token: " + result.error);
  // Only a v4 user id is a UUID, whose case carries no meaning; a username is compared as
  // bytes, or a token for `mallory` would open the stream of `MALLORY`.
  const bool same_user = match == SubjectMatch::Uuid
                             ? result.subject.size() == user.size() &&
                                   boost::beast::iequals(result.subject, user)
                             : result.subject == user;
  if (!same_user) return forbidden("the token's subject is not this user");
  return std::nullopt;
}

bool AccessPolicy::has_publish_token(const http::RequestHead& request) const {
  if (settings_.publish_token.empty()) return false;
  // Headers only: a backend secret in a URL or a cookie ends up in logs and browsers.
  std::string_view offered = request.raw["X-Publish-Token"];
  std::string bearer;
  if (offered.empty()) {
    bearer = authorization_bearer(request);
    offered = bearer;
  }
  return !offered.empty() && constant_time_equal(offered, settings_.publish_token);
}

bool AccessPolicy::has_publishing_jwt(const http::RequestHead& request) const {
  if (!settings_.require_jwt) return false;
  const std::string token = authorization_bearer(request);
  if (token.empty()) return false;
  const auto result = verifier_.verify(token);
  return result.ok && result.may_publish;
}

std::optional<http::Response> AccessPolicy::check_publisher(const http::RequestHead& request) const {
  if (publishing_open() || has_publish_token(request)) return std::nullopt;
  if (settings_.require_jwt) {
    if (const std::string token = authorization_bearer(request); !token.empty()) {
      const auto result = verifier_.verify(token);
      if (result.ok && result.may_publish) return std::nullopt;
      if (result.ok)
        return forbidden("this token does not grant publishing (its scope lacks " +
                         std::string(kPublishScope) + ")");
    }
  }
  return unauthenticated(settings_.publish_token.empty()
                             ? "publishing needs a JWT whose scope holds " + std::string(kPublishScope) +
                                   " (Authorization: Bearer)"
                             : "publishing needs the publish token (Authorization: Bearer or "
                               "X-Publish-Token)");
}

std::optional<http::Response> AccessPolicy::check_user_or_publisher(const http::RequestHead& request,
                                                                    std::string_view user) const {
  if (has_publish_token(request) || has_publishing_jwt(request)) return std::nullopt;
  if (settings_.require_jwt) return check_subscriber(request, user, SubjectMatch::Uuid);
  if (!settings_.publish_token.empty())
    return unauthenticated("changing a report needs the publish token or the user's JWT");
  return std::nullopt;
}

}  // namespace ssehub::auth
