#include "auth/jwt_verifier.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <ctime>
#include <memory>

using ssehub::auth::JwtKeys;
using ssehub::auth::JwtVerifier;

namespace {

constexpr const char* kSecret = "test-secret-of-thirty-two-bytes!";

std::string make_token(jwt_alg_t alg, const std::string& key, const std::string& sub, long exp_offset,
                       bool with_exp = true) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  if (!sub.empty()) jwt_add_grant(jwt, "sub", sub.c_str());
  if (with_exp) jwt_add_grant_int(jwt, "exp", static_cast<long>(std::time(nullptr)) + exp_offset);
  jwt_set_alg(jwt, alg, key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded ? encoded : "";
  free(encoded);
  jwt_free(jwt);
  return token;
}

struct RsaKeys {
  std::string private_pem, public_pem;
};

// The PEM text a memory BIO holds (the length first: it also sets where the text is).
std::string pem_of(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

RsaKeys generate_rsa() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  RsaKeys keys;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  keys.private_pem = pem_of(bio);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  keys.public_pem = pem_of(bio);
  BIO_free(bio);
  EVP_PKEY_free(key);
  return keys;
}

}  // namespace

TEST(JwtVerifierTest, ValidHs256TokenYieldsItsSubject) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  auto result = verifier.verify(make_token(JWT_ALG_HS256, kSecret, "alice", 60));
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.subject, "alice");
}

TEST(JwtVerifierTest, WrongSecretIsRefused) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  EXPECT_FALSE(verifier.verify(make_token(JWT_ALG_HS256, "another-secret-another-secret!!", "alice", 60)).ok);
}

TEST(JwtVerifierTest, ExpiredTokenIsRefused) {
  JwtVerifier verifier({.hs256_secret = kSecret, .leeway = std::chrono::seconds(0)});
  auto result = verifier.verify(make_token(JWT_ALG_HS256, kSecret, "alice", -10));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, "token expired");
}

TEST(JwtVerifierTest, TokenWithoutExpOrSubIsRefused) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  EXPECT_FALSE(verifier.verify(make_token(JWT_ALG_HS256, kSecret, "alice", 0, false)).ok);
  EXPECT_FALSE(verifier.verify(make_token(JWT_ALG_HS256, kSecret, "", 60)).ok);
}

TEST(JwtVerifierTest, AlgNoneIsRefused) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  auto result = verifier.verify(make_token(JWT_ALG_NONE, "", "alice", 60));
  EXPECT_FALSE(result.ok);
}

TEST(JwtVerifierTest, MalformedTokensAreRefused) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  for (const char* token : {"", "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9..", "\xff\xfe.x.y"})
    EXPECT_FALSE(verifier.verify(token).ok) << token;
}

TEST(JwtVerifierTest, Rs256WithThePublicKeyAndNoAlgorithmConfusion) {
  const RsaKeys keys = generate_rsa();
  JwtVerifier verifier({.rs256_public_key = keys.public_pem});
  auto good = verifier.verify(make_token(JWT_ALG_RS256, keys.private_pem, "bob", 60));
  ASSERT_TRUE(good.ok) << good.error;
  EXPECT_EQ(good.subject, "bob");
  // An HS256 token "signed" with the public key as the secret must not pass.
  EXPECT_FALSE(verifier.verify(make_token(JWT_ALG_HS256, keys.public_pem, "bob", 60)).ok);
}

namespace {

// A token with these claims as raw JSON, HS256-signed with kSecret (libjwt's grant setters
// cannot give a claim the wrong type).
std::string token_with_claims(const std::string& claims_json) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims_json.c_str());
  jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(kSecret),
              static_cast<int>(std::strlen(kSecret)));
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded ? encoded : "";
  free(encoded);
  jwt_free(jwt);
  return token;
}

}  // namespace

TEST(JwtVerifierTest, TimeClaimsOfAnotherTypeAreErrorsNamingTheClaim) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  const std::string later = std::to_string(std::time(nullptr) + 3600);
  auto exp_text = verifier.verify(token_with_claims(R"({"sub":"a","exp":")" + later + R"("})"));
  EXPECT_FALSE(exp_text.ok);
  EXPECT_NE(exp_text.error.find("exp claim must be a number"), std::string::npos) << exp_text.error;
  auto nbf_null = verifier.verify(token_with_claims(R"({"sub":"a","exp":)" + later + R"(,"nbf":null})"));
  EXPECT_FALSE(nbf_null.ok);
  EXPECT_NE(nbf_null.error.find("nbf claim must be a number"), std::string::npos) << nbf_null.error;
  auto sub_number = verifier.verify(token_with_claims(R"({"sub":42,"exp":)" + later + "}"));
  EXPECT_FALSE(sub_number.ok);
}

TEST(JwtVerifierTest, FractionalTimesAreNumericDatesToo) {
  // RFC 7519 §2: a NumericDate may be non-integer.
  JwtVerifier verifier({.hs256_secret = kSecret});
  const double later = static_cast<double>(std::time(nullptr)) + 3600.5;
  auto ok = verifier.verify(token_with_claims(R"({"sub":"a","exp":)" + std::to_string(later) +
                                              R"(,"nbf":1.5})"));
  EXPECT_TRUE(ok.ok) << ok.error;
  auto expired = verifier.verify(token_with_claims(R"({"sub":"a","exp":1.5})"));
  EXPECT_EQ(expired.error, "token expired");
}

TEST(JwtVerifierTest, ThePublishScopeIsOneOfTheSpaceSeparatedScopes) {
  JwtVerifier verifier({.hs256_secret = kSecret});
  const std::string later = std::to_string(std::time(nullptr) + 3600);
  auto with = [&](const std::string& scope) {
    return verifier.verify(token_with_claims(R"({"sub":"backend","exp":)" + later + R"(,"scope":)" + scope + "}"));
  };
  EXPECT_TRUE(with(R"("ssehub:publish")").may_publish);
  EXPECT_TRUE(with(R"("read ssehub:publish write")").may_publish);
  EXPECT_FALSE(with(R"("ssehub:publisher")").may_publish);
  EXPECT_FALSE(with(R"("ssehub:publis")").may_publish);
  EXPECT_FALSE(with(R"(["ssehub:publish"])").may_publish);
  EXPECT_TRUE(with(R"("ssehub:publisher")").ok);
}

TEST(JwtVerifierTest, UnusableKeysStopConstruction) {
  EXPECT_THROW(JwtVerifier({.hs256_secret = "thirty-one-bytes-is-one-too-few"}), std::invalid_argument);
  EXPECT_THROW(JwtVerifier({.rs256_public_key = "not a pem"}), std::invalid_argument);
  EXPECT_THROW(JwtVerifier({.rs256_public_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
               std::invalid_argument);
  const auto keys = generate_rsa();
  EXPECT_NO_THROW(JwtVerifier({.rs256_public_key = keys.public_pem}));
  // A private key is not the public key the option asks for.
  EXPECT_THROW(JwtVerifier({.rs256_public_key = keys.private_pem}), std::invalid_argument);
}
