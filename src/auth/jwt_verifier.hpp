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

// Verifies a compact JWS with libjwt: only HS256 or RS256 with the configured key (so
// `alg: none` and algorithm confusion fail), then exp/nbf, and returns the `sub` claim.
class JwtVerifier {
 public:
  explicit JwtVerifier(JwtKeys keys);

  struct Result {
    bool ok = false;
    std::string subject;
    std::string error;  // why it was refused, for the 401 body
  };
  Result verify(std::string_view token) const;

 private:
  JwtKeys keys_;
};

}  // namespace ssehub::auth
