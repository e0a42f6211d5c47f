// auth::JwtVerifier: arbitrary bytes as a token, and tokens the input assembles from a
// header and claims of its choosing, HMAC-signed with the configured secret, with another
// key (the RS256 public key, as in algorithm confusion), or not at all. A token is accepted
// only when HS256-signed with the secret, unexpired, already valid, and naming a subject.
#include "auth/jwt_verifier.hpp"
#include "fuzz_check.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <limits>
#include <string>

namespace {

using ssehub::auth::JwtKeys;
using ssehub::auth::JwtVerifier;

constexpr std::string_view kSecret = "fuzz-hs256-secret-of-32-bytes!!!";
// A public key for which no one holds the private half: no RS256 token can pass with it.
constexpr std::string_view kPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArcJk1zUM8BCRKstwW1GY
A7z86JkjOexjtvx7fZ6bwaHMTxNDX+9zxNNu1Tbqo2HSKeVMvMaHl/vMgLr+r2tk
XqKHez5I/MpJ18nYKvjWfyUxPVWxAg2v9Tfu5fNA4x/mBV5aN4G88RlM4AC17wD3
Efg4qj62nRcOOrNqs8dlI6F24+t5dJFCD62DmS5af2wTzxduXybuabnMctUbGNAu
UKdrKAbnkyxUxieVaH9x0m8XsxaUFWRPNyKpYp+1WP4zSI9AmEZ7azJHiCGymYeV
e5N4RDNzhwOqI1ud2UwJORLztrl/M4jr+CItWf95FOYzYHWd9mQm3IYrDyP2Et6E
kwIDAQAB
-----END PUBLIC KEY-----
)";

const JwtVerifier& verifier() {
  static const JwtVerifier* instance = new JwtVerifier(JwtKeys{
      .hs256_secret = std::string(kSecret), .rs256_public_key = std::string(kPublicKey)});
  return *instance;
}

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += kAlphabet[(bits >> count) & 0x3F];
    }
  }
  if (count > 0) out += kAlphabet[(bits << (6 - count)) & 0x3F];
  return out;
}

std::string hs256(std::string_view key, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

enum class Signer { Secret, PublicKeyAsSecret, WrongSecret, Unsigned };

std::string assemble(std::string_view header, std::string_view payload, Signer signer) {
  std::string token = base64url(header) + "." + base64url(payload);
  switch (signer) {
    case Signer::Secret: return token + "." + base64url(hs256(kSecret, token));
    case Signer::PublicKeyAsSecret: return token + "." + base64url(hs256(kPublicKey, token));
    case Signer::WrongSecret: return token + "." + base64url(hs256("not-the-secret", token));
    case Signer::Unsigned: return token + ".";
  }
  return token;
}

// A time claim: absent, sensible, at the edges of its type, or of the wrong type.
enum class Time { Absent, HourAgo, InAnHour, Max, Min, Zero, Any, Text, Real, Null };

void add_time(nlohmann::json& claims, const char* name, Time time, std::int64_t now,
              FuzzedDataProvider& input) {
  switch (time) {
    case Time::Absent: return;
    case Time::HourAgo: claims[name] = now - 3600; return;
    case Time::InAnHour: claims[name] = now + 3600; return;
    case Time::Max: claims[name] = std::numeric_limits<std::int64_t>::max(); return;
    case Time::Min: claims[name] = std::numeric_limits<std::int64_t>::min(); return;
    case Time::Zero: claims[name] = 0; return;
    case Time::Any: claims[name] = input.ConsumeIntegral<std::int64_t>(); return;
    case Time::Text: claims[name] = std::to_string(now + 3600); return;
    case Time::Real: claims[name] = input.ConsumeFloatingPoint<double>(); return;
    case Time::Null: claims[name] = nullptr; return;
  }
}

void check_result(const JwtVerifier::Result& result) {
  if (result.ok) {
    FUZZ_CHECK(!result.subject.empty());
  } else {
    FUZZ_CHECK(!result.error.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider input(bytes, size);
  const auto dump = [](const nlohmann::json& json) {
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  switch (input.ConsumeIntegralInRange(0, 2)) {
    case 0: {  // whatever bytes a client sends
      check_result(verifier().verify(input.ConsumeRemainingBytesAsString()));
      return 0;
    }
    case 1: {  // a header and payload the input writes, signed with the secret
      const std::string header = input.ConsumeRandomLengthString(256);
      const std::string payload = input.ConsumeRemainingBytesAsString();
      check_result(verifier().verify(assemble(header, payload, Signer::Secret)));
      return 0;
    }
    default: break;
  }

  // Claims chosen from what matters to the verifier.
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string alg = input.PickValueInArray<std::string>(
      {"HS256", "RS256", "none", "HS512", "hs256", "ES256", ""});
  const Signer signer = input.PickValueInArray(
      {Signer::Secret, Signer::PublicKeyAsSecret, Signer::WrongSecret, Signer::Unsigned});
  const Time exp = input.PickValueInArray({Time::Absent, Time::HourAgo, Time::InAnHour, Time::Max,
                                           Time::Min, Time::Zero, Time::Any, Time::Text, Time::Real,
                                           Time::Null});
  const Time nbf = input.PickValueInArray({Time::Absent, Time::HourAgo, Time::InAnHour, Time::Max,
                                           Time::Min, Time::Zero, Time::Any, Time::Text, Time::Real,
                                           Time::Null});
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  nlohmann::json claims = nlohmann::json::object();
  add_time(claims, "exp", exp, now, input);
  add_time(claims, "nbf", nbf, now, input);
  enum class Subject { Absent, Empty, Number, Text } subject_kind = input.PickValueInArray(
      {Subject::Absent, Subject::Empty, Subject::Number, Subject::Text});
  const std::string subject = input.ConsumeRandomLengthString(64);
  switch (subject_kind) {
    case Subject::Absent: break;
    case Subject::Empty: claims["sub"] = ""; break;
    case Subject::Number: claims["sub"] = 42; break;
    case Subject::Text: claims["sub"] = subject; break;
  }
  const std::string token = assemble(dump(header), dump(claims), signer);
  const auto result = verifier().verify(token);
  check_result(result);

  // Refused: any other key or algorithm, no unexpired exp, an nbf to come, no subject.
  // libjwt reads `alg` case-insensitively (RFC 7515 says case-sensitive); harmless, as
  // "hs256" still needs the HS256 secret.
  const bool hs256 = alg == "HS256" || alg == "hs256";
  // A time claim of another type than a number is an error, never read as absent.
  const bool wrong_type = exp == Time::Text || exp == Time::Null || nbf == Time::Text || nbf == Time::Null;
  const bool must_refuse = signer != Signer::Secret || !hs256 || exp == Time::Absent ||
                           exp == Time::HourAgo || exp == Time::Zero || exp == Time::Min ||
                           nbf == Time::InAnHour || nbf == Time::Max || wrong_type ||
                           subject_kind != Subject::Text || subject.empty();
  // Accepted: the plain good token, with a printable ASCII subject.
  const bool plain_subject = !subject.empty() && std::all_of(subject.begin(), subject.end(), [](char c) {
    return c >= 0x20 && c < 0x7F;
  });
  // An exp in an hour, as an integer or (RFC 7519 allows it) a fraction, is accepted.
  const bool must_accept = signer == Signer::Secret && alg == "HS256" && exp == Time::InAnHour &&
                           (nbf == Time::Absent || nbf == Time::HourAgo) &&
                           subject_kind == Subject::Text && plain_subject;
  if ((must_refuse && result.ok) || (must_accept && (!result.ok || result.subject != subject)))
    std::fprintf(stderr, "token %s\nheader %s claims %s: ok=%d subject=%s error=%s\n", token.c_str(),
                 dump(header).c_str(), dump(claims).c_str(), result.ok, result.subject.c_str(),
                 result.error.c_str());
  if (must_refuse) FUZZ_CHECK(!result.ok);
  if (must_accept) FUZZ_CHECK(result.ok && result.subject == subject);
  return 0;
}
