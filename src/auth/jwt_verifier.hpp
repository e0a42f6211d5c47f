#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ssehub::auth {

struct JwtKeys {
  std::string hs256_secret;        // shared secret; empty = HS256 not accepted
  std::string rs256_public_key;    // PEM; empty = RS256 not accepted
  std::chrono::seconds leeway{30};  // clock skew tolerated on exp and nbf
};

// The scope (RFC 8693 `scope` claim, space-separated) that lets a token's holder publish.
inline constexpr std::string_view kPublishScope = "ssehub:publish";

// Verifies a compact JWS with libjwt: only HS256 or RS256 with the configured key (so
// `alg: none` and algorithm confusion fail), then the types and values of exp/nbf, and
// returns the `sub` claim and whether the token grants publishing.
class JwtVerifier {
 public:
  // Throws std::invalid_argument for keys no token could be safely verified with: an HS256
  // secret shorter than 32 bytes (RFC 7518 §3.2), or a public key that is not an RSA key in
  // PEM.
  explicit JwtVerifier(JwtKeys keys);

  struct Result {
    bool ok = false;
    std::string subject;
    bool may_publish = false;  // the scope claim holds kPublishScope
    std::string error;         // why it was refused, for the 401 body
  };
  Result verify(std::string_view token) const;

 private:
  JwtKeys keys_;
};

}  // namespace ssehub::auth
