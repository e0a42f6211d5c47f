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

// The sending half of a TLS 1.3 record layer (RFC 8446 5.2), for a connection whose OpenSSL
// state was freed once it only sends (a parked SSE stream, see TlsStream::park). It holds the
// write key, IV and sequence number, and nothing else: 64 bytes.
//
// Why record framing by hand: no TLS library hands out its record layer apart from the rest of
// its connection state (kernel TLS is what does this, in the kernel, and this kernel has no tls
// ULP). The cryptography is OpenSSL's: HKDF for the keys, EVP's AEAD for each record; what is
// written here is only the framing (header, inner content type, nonce = IV xor sequence).
class TlsRecordSealer {
 public:
  // The TLS 1.3 suites whose records this seals (by their IANA ids).
  enum class Suite : std::uint8_t { Aes128GcmSha256, Aes256GcmSha384, Chacha20Poly1305Sha256 };
  static constexpr std::size_t kMaxPlaintext = 16384;  // per record (RFC 8446 5.1)
  static constexpr std::size_t kOverhead = 5 + 1 + 16;  // header, content type, tag
  static constexpr std::uint8_t kApplicationData = 23;
  static constexpr std::uint8_t kAlert = 21;

  // The suite of a TLS 1.3 cipher suite id (SSL_CIPHER_get_protocol_id); none for others.
  static std::optional<Suite> suite_of(std::uint16_t protocol_id);
  // The sealer of a traffic secret (SERVER_TRAFFIC_SECRET_0 and the like), keys derived as in
  // RFC 8446 7.3; none when the secret's length is not the suite's hash length or OpenSSL fails.
  static std::optional<TlsRecordSealer> from_traffic_secret(Suite suite,
                                                            std::span<const unsigned char> secret,
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

  std::uint64_t sequence() const { return sequence_; }
  void set_sequence(std::uint64_t sequence) { sequence_ = sequence; }
  Suite suite() const { return suite_; }

 private:
  TlsRecordSealer(Suite suite, std::uint64_t sequence) : suite_(suite), sequence_(sequence) {}

  Suite suite_;
  std::array<unsigned char, 32> key_{};
  std::array<unsigned char, 12> iv_{};
  std::uint64_t sequence_;
};

}  // namespace ssehub::http
