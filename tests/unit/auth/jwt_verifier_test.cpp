#include "auth/jwt_verifier.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
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
