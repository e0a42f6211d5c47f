#include "http/tls_record_sealer.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

namespace ssehub::http {

namespace {

struct SuiteInfo {
  const char* digest;
  std::size_t secret_length;  // the hash's
  std::size_t key_length;
  const EVP_CIPHER* (*cipher)();
};

const SuiteInfo& info_of(TlsRecordSealer::Suite suite) {
  static const SuiteInfo kSuites[] = {
      {"SHA256", 32, 16, &EVP_aes_128_gcm},
      {"SHA384", 48, 32, &EVP_aes_256_gcm},
      {"SHA256", 32, 32, &EVP_chacha20_poly1305},
  };
  return kSuites[static_cast<std::size_t>(suite)];
}

// RFC 8446 5.5: AES-GCM keys protect at most 2^24.5 full records. A parked stream does not
// update its keys (OpenSSL did that, and it is gone): past this it ends, and its client
// reconnects with fresh keys and resumes.
constexpr std::uint64_t kMaxRecords = std::uint64_t{1} << 24;
constexpr std::size_t kTagLength = 16;

// Runs OpenSSL's key derivation `kdf` with `params` into `out`.
bool derive(EVP_KDF* kdf, const OSSL_PARAM* params, unsigned char* out, std::size_t length) {
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> context(EVP_KDF_CTX_new(kdf), &EVP_KDF_CTX_free);
  return context && EVP_KDF_derive(context.get(), out, length, params) == 1;
}

// HKDF-Expand-Label(secret, label, "", length) of RFC 8446 7.1, by OpenSSL's HKDF.
bool expand_label(const SuiteInfo& suite, std::span<const unsigned char> secret, std::string_view label,
                  unsigned char* out, std::size_t length) {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) return false;
  // struct { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>; }
  std::string info;
  info.push_back(static_cast<char>(length >> 8));
  info.push_back(static_cast<char>(length & 0xff));
  info.push_back(static_cast<char>(6 + label.size()));
  info.append("tls13 ").append(label);
  info.push_back(0);
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  return derive(kdf, params, out, length);
}

// The key block of a TLS 1.2 connection (RFC 5246 6.3): PRF(master_secret, "key expansion",
// server_random + client_random), by OpenSSL's TLS1-PRF with the suite's hash.
bool expand_key_block(const SuiteInfo& suite, std::span<const unsigned char> master_secret,
                      std::span<const unsigned char> server_random, std::span<const unsigned char> client_random,
                      unsigned char* out, std::size_t length) {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
  if (!kdf) return false;
  std::string seed = "key expansion";
  seed.append(reinterpret_cast<const char*>(server_random.data()), server_random.size());
  seed.append(reinterpret_cast<const char*>(client_random.data()), client_random.size());
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<unsigned char*>(master_secret.data()),
                                        master_secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end()};
  return derive(kdf, params, out, length);
}

void put_u64(unsigned char* at, std::uint64_t value) {
  for (std::size_t i = 0; i < 8; ++i) at[i] = static_cast<unsigned char>(value >> (56 - 8 * i));
}

// One per I/O thread: a connection stays on its thread, and a seal never yields midway.
EVP_CIPHER_CTX* thread_cipher_context() {
  thread_local const std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> context(
      EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  return context.get();
}

}  // namespace

std::optional<TlsRecordSealer::Suite> TlsRecordSealer::suite_of(Version version, std::uint16_t protocol_id) {
  if (version == Version::Tls13) {
    switch (protocol_id) {
      case 0x1301: return Suite::Aes128GcmSha256;
      case 0x1302: return Suite::Aes256GcmSha384;
      case 0x1303: return Suite::Chacha20Poly1305Sha256;
      default: return std::nullopt;
    }
  }
  switch (protocol_id) {
    case 0xc02b:  // ECDHE-ECDSA-AES128-GCM-SHA256
    case 0xc02f:  // ECDHE-RSA-AES128-GCM-SHA256
      return Suite::Aes128GcmSha256;
    case 0xc02c:  // ECDHE-ECDSA-AES256-GCM-SHA384
    case 0xc030:  // ECDHE-RSA-AES256-GCM-SHA384
      return Suite::Aes256GcmSha384;
    case 0xcca8:  // ECDHE-RSA-CHACHA20-POLY1305
    case 0xcca9:  // ECDHE-ECDSA-CHACHA20-POLY1305
      return Suite::Chacha20Poly1305Sha256;
    default: return std::nullopt;
  }
}

std::optional<TlsRecordSealer> TlsRecordSealer::from_traffic_secret(Suite suite,
                                                                    std::span<const unsigned char> secret,
                                                                    std::uint64_t sequence) {
  const SuiteInfo& info = info_of(suite);
  if (secret.size() != info.secret_length) return std::nullopt;
  TlsRecordSealer sealer(suite, Version::Tls13, sequence);
  if (!expand_label(info, secret, "key", sealer.key_.data(), info.key_length) ||
      !expand_label(info, secret, "iv", sealer.iv_.data(), sealer.iv_.size()))
    return std::nullopt;
  return sealer;
}

std::optional<TlsRecordSealer> TlsRecordSealer::from_master_secret(Suite suite,
                                                                   std::span<const unsigned char> master_secret,
                                                                   std::span<const unsigned char> server_random,
                                                                   std::span<const unsigned char> client_random,
                                                                   std::uint64_t sequence) {
  if (master_secret.size() != 48 || server_random.size() != 32 || client_random.size() != 32) return std::nullopt;
  const SuiteInfo& info = info_of(suite);
  TlsRecordSealer sealer(suite, Version::Tls12, sequence);
  // client_write_key, server_write_key, client_write_IV, server_write_IV; the IV is GCM's
  // 4-byte salt (RFC 5288 3) or ChaCha20-Poly1305's 12 bytes (RFC 7905 2).
  const std::size_t iv_length = suite == Suite::Chacha20Poly1305Sha256 ? 12 : 4;
  std::array<unsigned char, 2 * 32 + 2 * 12> block{};
  const bool ok = expand_key_block(info, master_secret, server_random, client_random, block.data(),
                                   2 * info.key_length + 2 * iv_length);
  if (ok) {
    std::memcpy(sealer.key_.data(), block.data() + info.key_length, info.key_length);
    std::memcpy(sealer.iv_.data(), block.data() + 2 * info.key_length + iv_length, iv_length);
  }
  OPENSSL_cleanse(block.data(), block.size());
  if (!ok) return std::nullopt;
  return sealer;
}

std::size_t TlsRecordSealer::explicit_nonce_length() const {
  return version_ == Version::Tls12 && suite_ != Suite::Chacha20Poly1305Sha256 ? 8 : 0;
}

std::size_t TlsRecordSealer::record_overhead() const {
  return 5 + explicit_nonce_length() + (version_ == Version::Tls13 ? 1 : 0) + kTagLength;
}

void TlsRecordSealer::take_nonce_of(std::string_view record) {
  if (explicit_nonce_length() == 0 || record.size() < 5 + 8) return;
  std::memcpy(iv_.data() + 4, record.data() + 5, 8);
}

void TlsRecordSealer::count_explicit_nonce() {
  // A 64-bit big-endian counter, as OpenSSL's: it cannot come round within kMaxRecords.
  for (std::size_t i = iv_.size(); i-- > 4;)
    if (++iv_[i] != 0) break;
}

std::array<unsigned char, 12> TlsRecordSealer::nonce(std::uint64_t sequence) const {
  std::array<unsigned char, 12> nonce = iv_;
  if (explicit_nonce_length() > 0) return nonce;  // RFC 5288 3: salt || nonce_explicit
  // RFC 8446 5.3, RFC 7905 2: the IV xor the sequence number, left-padded to the IV's length.
  for (std::size_t i = 0; i < 8; ++i) nonce[nonce.size() - 1 - i] ^= static_cast<unsigned char>(sequence >> (8 * i));
  return nonce;
}

// A parked stream holds one: it must stay this small.
static_assert(sizeof(TlsRecordSealer) <= 56);

TlsRecordSealer::~TlsRecordSealer() {
  OPENSSL_cleanse(key_.data(), key_.size());
  OPENSSL_cleanse(iv_.data(), iv_.size());
}

bool TlsRecordSealer::seal_record(std::span<const boost::asio::const_buffer> plaintext, std::uint8_t type,
                                  std::string& out) {
  std::size_t length = 0;
  for (const auto& piece : plaintext) length += piece.size();
  if (length > kMaxPlaintext || sequence_ >= kMaxRecords) return false;
  const std::uint64_t sequence = sequence_++;
  const bool tls13 = version_ == Version::Tls13;
  const std::array<unsigned char, 12> nonce = this->nonce(sequence);
  // RFC 8446 5.2: TLS 1.3's outer type is application data, the real one ends the inner
  // plaintext. TLS 1.2's record has the real type and, with GCM, the explicit nonce first.
  const std::size_t explicit_length = explicit_nonce_length();
  const std::size_t sealed = explicit_length + length + (tls13 ? 1 : 0) + kTagLength;
  const unsigned char header[5] = {tls13 ? kApplicationData : type, 0x03, 0x03,
                                   static_cast<unsigned char>(sealed >> 8), static_cast<unsigned char>(sealed & 0xff)};
  // The additional data: TLS 1.3's is the header (RFC 8446 5.2); TLS 1.2's is the sequence
  // number, type, version and plaintext length (RFC 5246 6.2.3.3).
  unsigned char aad[13];
  std::size_t aad_length = sizeof header;
  if (tls13) {
    std::memcpy(aad, header, sizeof header);
  } else {
    put_u64(aad, sequence);
    const unsigned char rest[5] = {type, 0x03, 0x03, static_cast<unsigned char>(length >> 8),
                                   static_cast<unsigned char>(length & 0xff)};
    std::memcpy(aad + 8, rest, sizeof rest);
    aad_length = sizeof aad;
  }
  const std::size_t start = out.size();
  out.resize(start + sizeof header + sealed);
  auto* at = reinterpret_cast<unsigned char*>(out.data() + start);
  std::memcpy(at, header, sizeof header);
  at += sizeof header;
  std::memcpy(at, nonce.data() + nonce.size() - explicit_length, explicit_length);
  at += explicit_length;
  if (explicit_length > 0) count_explicit_nonce();

  EVP_CIPHER_CTX* context = thread_cipher_context();
  int written = 0;
  bool ok = context && EVP_EncryptInit_ex(context, info_of(suite_).cipher(), nullptr, key_.data(), nonce.data()) == 1 &&
            EVP_EncryptUpdate(context, nullptr, &written, aad, static_cast<int>(aad_length)) == 1;
  const auto encrypt = [&](const void* data, std::size_t size) {
    if (!ok || size == 0) return;
    ok = EVP_EncryptUpdate(context, at, &written, static_cast<const unsigned char*>(data), static_cast<int>(size)) == 1;
    at += written;
  };
  for (const auto& piece : plaintext) encrypt(piece.data(), piece.size());
  if (tls13) encrypt(&type, 1);
  ok = ok && EVP_EncryptFinal_ex(context, at, &written) == 1;
  at += ok ? written : 0;
  ok = ok && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, kTagLength, at) == 1 &&
       at + kTagLength == reinterpret_cast<unsigned char*>(out.data() + out.size());
  if (!ok) out.resize(start);
  return ok;
}

bool TlsRecordSealer::seal_record(std::string_view plaintext, std::uint8_t type, std::string& out) {
  const boost::asio::const_buffer piece(plaintext.data(), plaintext.size());
  return seal_record(std::span(&piece, 1), type, out);
}

bool TlsRecordSealer::seal(std::span<const boost::asio::const_buffer> buffers, std::string& out) {
  // Pieces are gathered into records of kMaxPlaintext bytes (many small frames make one
  // record); a record's pieces are views into `buffers`, at most one per buffer.
  std::array<boost::asio::const_buffer, 64> pieces;
  std::size_t count = 0;
  std::size_t filled = 0;
  const auto flush = [&] {
    const bool ok = seal_record(std::span(pieces.data(), count), kApplicationData, out);
    count = 0, filled = 0;
    return ok;
  };
  for (boost::asio::const_buffer buffer : buffers) {
    while (buffer.size() > 0) {
      if (filled == kMaxPlaintext || count == pieces.size())
        if (!flush()) return false;
      const std::size_t take = std::min(buffer.size(), kMaxPlaintext - filled);
      pieces[count++] = boost::asio::const_buffer(buffer.data(), take);
      filled += take;
      buffer += take;
    }
  }
  return count == 0 || flush();
}

bool TlsRecordSealer::seal_close_notify(std::string& out) {
  static constexpr char kCloseNotify[] = {1 /* warning */, 0 /* close_notify */};
  return seal_record(std::string_view(kCloseNotify, sizeof kCloseNotify), kAlert, out);
}

}  // namespace ssehub::http
