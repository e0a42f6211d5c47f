#include "auth/jwt_verifier.hpp"

#include <jwt.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>

namespace ssehub::auth {

namespace {

using JwtPtr = std::unique_ptr<jwt_t, decltype(&jwt_free)>;

JwtPtr decode(const std::string& token, const std::string& key) {
  jwt_t* raw = nullptr;
  const int rc =
      jwt_decode(&raw, token.c_str(), key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
                 static_cast<int>(key.size()));
  if (rc != 0) raw = nullptr;
  return JwtPtr(raw, &jwt_free);
}

// A numeric claim, or nullopt when absent (libjwt reports absence through errno).
std::optional<long> numeric_claim(jwt_t* jwt, const char* name) {
  errno = 0;
  const long value = jwt_get_grant_int(jwt, name);
  if (errno != 0) return std::nullopt;
  return value;
}

}  // namespace

JwtVerifier::JwtVerifier(JwtKeys keys) : keys_(std::move(keys)) {}

JwtVerifier::Result JwtVerifier::verify(std::string_view token_view) const {
  if (token_view.empty() || token_view.size() > 8192) return {.error = "missing or oversized token"};
  const std::string token(token_view);

  if (!decode(token, "")) return {.error = "malformed token"};
  // Verify with each configured key and accept only the algorithm that key is for: an
  // `alg: none` token, or an HS256 token keyed with the RS256 public key, matches neither.
  JwtPtr verified(nullptr, &jwt_free);
  for (const auto& [alg, key] : {std::pair{JWT_ALG_HS256, &keys_.hs256_secret},
                                 std::pair{JWT_ALG_RS256, &keys_.rs256_public_key}}) {
    if (key->empty()) continue;
    JwtPtr candidate = decode(token, *key);
    if (candidate && jwt_get_alg(candidate.get()) == alg) {
      verified = std::move(candidate);
      break;
    }
  }
  if (!verified) return {.error = "bad signature or algorithm not accepted"};

  const long now = static_cast<long>(std::time(nullptr));
  const long leeway = static_cast<long>(keys_.leeway.count());
  const auto exp = numeric_claim(verified.get(), "exp");
  if (!exp) return {.error = "token has no exp claim"};
  // The leeway moves `now`, not the claims: they are any long the issuer chose, and adding
  // to one could overflow.
  if (*exp < now - leeway) return {.error = "token expired"};
  if (const auto nbf = numeric_claim(verified.get(), "nbf"); nbf && *nbf > now + leeway)
    return {.error = "token not valid yet"};
  const char* subject = jwt_get_grant(verified.get(), "sub");
  if (!subject || !*subject) return {.error = "token has no sub claim"};
  return {.ok = true, .subject = subject};
}

}  // namespace ssehub::auth
