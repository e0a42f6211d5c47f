// Found by fuzz/jwt_fuzzer.cpp: exp and nbf are whatever long the issuer wrote, and adding
// the leeway to them overflowed (UBSan: "signed integer overflow: 9223372036854775807 + 30").
#include "auth/jwt_verifier.hpp"

#include <gtest/gtest.h>
#include <jwt.h>

#include <climits>
#include <cstdlib>
#include <optional>
#include <ctime>
#include <string>

using ssehub::auth::JwtVerifier;

namespace {

constexpr const char* kSecret = "test-secret-of-thirty-two-bytes!";

std::string token_with_times(long exp, std::optional<long> nbf) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grant(jwt, "sub", "alice");
  jwt_add_grant_int(jwt, "exp", exp);
  if (nbf) jwt_add_grant_int(jwt, "nbf", *nbf);
  jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(kSecret),
              static_cast<int>(std::char_traits<char>::length(kSecret)));
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded ? encoded : "";
  free(encoded);
  jwt_free(jwt);
  return token;
}

}  // namespace

TEST(JwtVerifierTimeClaimsTest, ExpAtTheLargestLongIsNotExpired) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  const auto result = verifier.verify(token_with_times(LONG_MAX, std::nullopt));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.subject, "alice");
}

TEST(JwtVerifierTimeClaimsTest, NbfAtTheSmallestLongIsAlreadyValid) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  const auto result = verifier.verify(token_with_times(std::time(nullptr) + 60, LONG_MIN));
  ASSERT_TRUE(result.ok) << result.error;
}

TEST(JwtVerifierTimeClaimsTest, ExpAtTheSmallestLongIsExpiredAndNbfAtTheLargestIsNotYetValid) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  EXPECT_EQ(verifier.verify(token_with_times(LONG_MIN, std::nullopt)).error, "token expired");
  EXPECT_EQ(verifier.verify(token_with_times(std::time(nullptr) + 60, LONG_MAX)).error,
            "token not valid yet");
}

TEST(JwtVerifierTimeClaimsTest, LeewayStillAppliesOnBothSides) {
  JwtVerifier verifier({.hs256_secret = kSecret, .leeway = std::chrono::seconds(30)});
  const long now = static_cast<long>(std::time(nullptr));
  EXPECT_TRUE(verifier.verify(token_with_times(now - 10, std::nullopt)).ok);
  EXPECT_TRUE(verifier.verify(token_with_times(now + 60, now + 10)).ok);
  EXPECT_FALSE(verifier.verify(token_with_times(now - 120, std::nullopt)).ok);
  EXPECT_FALSE(verifier.verify(token_with_times(now + 600, now + 120)).ok);
}
