#pragma once

#include <boost/asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ssehub::http {

// The sending half of a TLS record layer, of TLS 1.3 (RFC 8446 5.2) or of TLS 1.2 with an AEAD
// suite (RFC 5246 6.2.3.3, RFC 5288, RFC 7905), for a connection whose OpenSSL state was freed
// once it only sends (a parked SSE stream, see TlsStream::park). It holds the write key, IV and
// sequence number, and nothing else: 56 bytes.
//
// Why record framing by hand: no TLS library hands out its record layer apart from the rest of
// its connection state (kernel TLS is what does this, in the kernel, and this kernel has no tls
// ULP). The cryptography is OpenSSL's: HKDF or the TLS 1.2 PRF for the keys, EVP's AEAD for
// each record; what is written here is only the framing (header, nonce, additional data).
class TlsRecordSealer {
 public:
  // The AEADs whose records this seals, with the hash of their key schedule. In TLS 1.3 they
  // are the suites TLS_AES_128_GCM_SHA256 and the like; in TLS 1.2 the ECDHE suites of the
  // same AEAD (ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-CHACHA20-POLY1305, ...).
  enum class Suite : std::uint8_t { Aes128GcmSha256, Aes256GcmSha384, Chacha20Poly1305Sha256 };
  enum class Version : std::uint8_t { Tls12, Tls13 };
  static constexpr std::size_t kMaxPlaintext = 16384;  // per record (RFC 8446 5.1, RFC 5246 6.2.1)
  static constexpr std::uint8_t kApplicationData = 23;
  static constexpr std::uint8_t kAlert = 21;

  // The suite of a cipher suite id (SSL_CIPHER_get_protocol_id) of `version`; none for others.
  static std::optional<Suite> suite_of(Version version, std::uint16_t protocol_id);
  // The sealer of a TLS 1.3 traffic secret (SERVER_TRAFFIC_SECRET_0 and the like), keys derived
  // as in RFC 8446 7.3; none when the secret's length is not the suite's hash length or OpenSSL
  // fails.
  static std::optional<TlsRecordSealer> from_traffic_secret(Suite suite,
                                                            std::span<const unsigned char> secret,
                                                            std::uint64_t sequence = 0);
  // The server's sealer of a TLS 1.2 connection, from its master secret (the extended one if
  // negotiated) and the hello randoms, keys derived as in RFC 5246 6.3; none when the lengths
  // are wrong (48, 32, 32) or OpenSSL fails.
  static std::optional<TlsRecordSealer> from_master_secret(Suite suite,
                                                           std::span<const unsigned char> master_secret,
                                                           std::span<const unsigned char> server_random,
                                                           std::span<const unsigned char> client_random,
                                                           std::uint64_t sequence = 0);

  TlsRecordSealer(const TlsRecordSealer&) = default;
  TlsRecordSealer& operator=(const TlsRecordSealer&) = default;
  ~TlsRecordSealer();

  // Appends one record of `type` holding `plaintext` (at most kMaxPlaintext bytes, given in
  // pieces), and counts it. False if OpenSSL fails (the sequence number is then spent too).
  bool seal_record(std::span<const boost::asio::const_buffer> plaintext, std::uint8_t type,
                   std::string& out);
  bool seal_record(std::string_view plaintext, std::uint8_t type, std::string& out);
  // Appends all of `buffers` as application data records of up to kMaxPlaintext bytes.
  bool seal(std::span<const boost::asio::const_buffer> buffers, std::string& out);
  // Appends the close_notify alert.
  bool seal_close_notify(std::string& out);

  // TLS 1.2's GCM: the explicit nonce (RFC 5288 3) is any value used once with the key, and
  // OpenSSL counts it up from a random start. The sealer's next record takes the one `record`
  // carries (a record as OpenSSL wrote it), and counts on from there. Does nothing for the
  // other suites, whose nonce follows from the sequence number.
  void take_nonce_of(std::string_view record);

  std::uint64_t sequence() const { return sequence_; }
  void set_sequence(std::uint64_t sequence) { sequence_ = sequence; }
  Suite suite() const { return suite_; }
  Version version() const { return version_; }
  // The bytes a record adds to its plaintext.
  std::size_t record_overhead() const;

 private:
  TlsRecordSealer(Suite suite, Version version, std::uint64_t sequence)
      : suite_(suite), version_(version), sequence_(sequence) {}
  // The nonce of record `sequence`; TLS 1.2's GCM record carries its last 8 bytes.
  std::array<unsigned char, 12> nonce(std::uint64_t sequence) const;
  std::size_t explicit_nonce_length() const;
  void count_explicit_nonce();

  Suite suite_;
  Version version_;
  std::array<unsigned char, 32> key_{};
  // TLS 1.2's GCM: the salt (4 bytes) and the next explicit nonce (8), as in OpenSSL.
  std::array<unsigned char, 12> iv_{};
  std::uint64_t sequence_;
};

}  // namespace ssehub::http
