#include "auth/jwt_verifier.hpp"


#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>

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

bool is_rsa_public_key_pem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  if (!bio) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  return key && EVP_PKEY_base_id(key.get()) == EVP_PKEY_RSA;
}

// A NumericDate (RFC 7519 §2): any JSON number, integer or not; absent is nullopt; any other
// type is an error.
struct TimeClaim {
  std::optional<double> seconds;
  bool malformed = false;
};
TimeClaim time_claim(const nlohmann::json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return {};
  if (!it->is_number()) return {.malformed = true};
  const double value = it->get<double>();
  if (!std::isfinite(value)) return {.malformed = true};
  return {.seconds = value};
}

bool has_scope(const nlohmann::json& claims, std::string_view wanted) {
  const auto scope = claims.find("scope");
  if (scope == claims.end() || !scope->is_string()) return false;
  std::string_view scopes = scope->get_ref<const std::string&>();
  while (!scopes.empty()) {
    const std::size_t space = scopes.find(' ');
    if (scopes.substr(0, space) == wanted) return true;
    if (space == std::string_view::npos) break;
    scopes.remove_prefix(space + 1);
  }
  return false;
}

}  // namespace

JwtVerifier::JwtVerifier(JwtKeys keys) : keys_(std::move(keys)) {
  if (!keys_.hs256_secret.empty() && keys_.hs256_secret.size() < 32)
    throw std::invalid_argument("the HS256 secret has " + std::to_string(keys_.hs256_secret.size()) +
                                " bytes; it needs at least 32 (RFC 7518 section 3.2)");
  if (!keys_.rs256_public_key.empty() && !is_rsa_public_key_pem(keys_.rs256_public_key))
    throw std::invalid_argument("the RS256 key is not an RSA public key in PEM");
}

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

  // The claims as JSON: libjwt's typed getters cannot tell a string from a missing claim.
  std::unique_ptr<char, decltype(&std::free)> grants(jwt_get_grants_json(verified.get(), nullptr),
                                                     &std::free);
  const auto claims = nlohmann::json::parse(grants ? grants.get() : "", nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return {.error = "malformed claims"};

  const double now = static_cast<double>(std::time(nullptr));
  const double leeway = static_cast<double>(keys_.leeway.count());
  const auto exp = time_claim(claims, "exp");
  if (exp.malformed) return {.error = "the exp claim must be a number (seconds since the epoch)"};
  if (!exp.seconds) return {.error = "token has no exp claim"};
  // The leeway moves `now`, not the claims: they are whatever the issuer chose.
  if (*exp.seconds < now - leeway) return {.error = "token expired"};
  const auto nbf = time_claim(claims, "nbf");
  if (nbf.malformed) return {.error = "the nbf claim must be a number (seconds since the epoch)"};
  if (nbf.seconds && *nbf.seconds > now + leeway) return {.error = "token not valid yet"};
  const auto subject = claims.find("sub");
  if (subject == claims.end()) return {.error = "token has no sub claim"};
  if (!subject->is_string() || subject->get_ref<const std::string&>().empty())
    return {.error = "the sub claim must be a non-empty string"};
  return {.ok = true,
          .subject = subject->get<std::string>(),
          .may_publish = has_scope(claims, kPublishScope)};
}

}  // namespace ssehub::auth
