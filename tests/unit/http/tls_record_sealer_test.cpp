#include "http/tls_record_sealer.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace ssehub::http {
namespace {

using Suite = TlsRecordSealer::Suite;
using Version = TlsRecordSealer::Version;

struct SuiteCase {
  const char* name;  // as SSL_CTX_set_ciphersuites (TLS 1.3) or set_cipher_list (TLS 1.2) knows it
  Suite suite;
  Version version;
  std::size_t overhead;  // of a record: header, [explicit nonce], [inner type], tag
};

// The secret the server's key log gave for the connection being set up (one at a time): TLS
// 1.3's server traffic secret, TLS 1.2's master secret.
std::string logged_secret;

void keep_server_secret(const SSL*, const char* line) {
  const std::string text(line);
  if (text.rfind("SERVER_TRAFFIC_SECRET_0 ", 0) == 0 || text.rfind("CLIENT_RANDOM ", 0) == 0)
    logged_secret = text.substr(text.rfind(' ') + 1);
}

std::vector<unsigned char> from_hex(const std::string& hex) {
  std::vector<unsigned char> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}

// A TLS 1.3 or 1.2 server and client SSL of one suite, talking over memory BIOs: what the server
// writes waits in `to_client` until the client reads it, so a test can look at it, or put
// records of its own there.
class TlsRecordSealerTest : public ::testing::TestWithParam<SuiteCase> {
 protected:
  void SetUp() override {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    SSL_CTX* server_context = SSL_CTX_new(TLS_server_method());
    SSL_CTX* client_context = SSL_CTX_new(TLS_client_method());
    const bool tls13 = GetParam().version == Version::Tls13;
    for (SSL_CTX* context : {server_context, client_context}) {
      const int version = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
      SSL_CTX_set_min_proto_version(context, version);
      SSL_CTX_set_max_proto_version(context, version);
      ASSERT_EQ(tls13 ? SSL_CTX_set_ciphersuites(context, GetParam().name)
                      : SSL_CTX_set_cipher_list(context, GetParam().name),
                1);
    }
    SSL_CTX_use_certificate(server_context, cert);
    SSL_CTX_use_PrivateKey(server_context, key);
    // No tickets: the server's first record of application data is its record number 0 in
    // TLS 1.3, and 1 in TLS 1.2 (0 is its Finished).
    SSL_CTX_set_num_tickets(server_context, 0);
    SSL_CTX_set_options(server_context, SSL_OP_NO_TICKET);
    first_ = tls13 ? 0 : 1;
    SSL_CTX_set_keylog_callback(server_context, &keep_server_secret);
    server_ = SSL_new(server_context);
    client_ = SSL_new(client_context);
    SSL_CTX_free(server_context);
    SSL_CTX_free(client_context);
    X509_free(cert);
    EVP_PKEY_free(key);

    to_client_ = BIO_new(BIO_s_mem());
    BIO* to_server = BIO_new(BIO_s_mem());
    BIO_up_ref(to_client_);
    BIO_up_ref(to_server);
    SSL_set_bio(server_, to_server, to_client_);
    SSL_set_bio(client_, to_client_, to_server);
    SSL_set_accept_state(server_);
    SSL_set_connect_state(client_);
    logged_secret.clear();
    for (int round = 0; round < 10; ++round) {
      const int client = SSL_do_handshake(client_);
      const int server = SSL_do_handshake(server_);
      if (client == 1 && server == 1) break;
    }
    ASSERT_EQ(SSL_is_init_finished(server_), 1);
    ASSERT_EQ(SSL_is_init_finished(client_), 1);
    ASSERT_FALSE(logged_secret.empty());
    ASSERT_EQ(SSL_version(server_), tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    ASSERT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(server_)), GetParam().name);
    secret_ = from_hex(logged_secret);
    SSL_get_server_random(server_, server_random_.data(), server_random_.size());
    SSL_get_client_random(server_, client_random_.data(), client_random_.size());
  }
  void TearDown() override {
    SSL_free(server_);
    SSL_free(client_);
  }

  // What the server has written and the client not yet read.
  std::string waiting_for_client() {
    std::string bytes(static_cast<std::size_t>(BIO_pending(to_client_)), '\0');
    if (!bytes.empty()) BIO_read(to_client_, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
  }
  void deliver(const std::string& records) {
    BIO_write(to_client_, records.data(), static_cast<int>(records.size()));
  }
  // Everything the client can decrypt of what waits for it; "<error>" if it refuses a record.
  std::string client_reads() {
    std::string received;
    char buffer[4096];
    for (;;) {
      std::size_t n = 0;
      if (SSL_read_ex(client_, buffer, sizeof buffer, &n) == 1) {
        received.append(buffer, n);
        continue;
      }
      return SSL_get_error(client_, 0) == SSL_ERROR_WANT_READ ? received : "<error>";
    }
  }
  TlsRecordSealer sealer(std::uint64_t sequence) {
    auto made = GetParam().version == Version::Tls13
                    ? TlsRecordSealer::from_traffic_secret(GetParam().suite, secret_, sequence)
                    : TlsRecordSealer::from_master_secret(GetParam().suite, secret_, server_random_,
                                                          client_random_, sequence);
    EXPECT_TRUE(made);
    return *made;
  }

  SSL* server_ = nullptr;
  SSL* client_ = nullptr;
  BIO* to_client_ = nullptr;
  std::vector<unsigned char> secret_;
  std::array<unsigned char, 32> server_random_{};
  std::array<unsigned char, 32> client_random_{};
  std::uint64_t first_ = 0;  // the sequence number of the server's first application data
};

TEST_P(TlsRecordSealerTest, SealsTheVeryRecordsOpenSslWrites) {
  const std::string event = "data: the same bytes\n\n";
  const std::string other = "data: other bytes\n\n";
  std::size_t written = 0;
  ASSERT_EQ(SSL_write_ex(server_, event.data(), event.size(), &written), 1);
  const std::string first_record = waiting_for_client();
  ASSERT_EQ(SSL_write_ex(server_, other.data(), other.size(), &written), 1);
  ASSERT_EQ(SSL_write_ex(server_, event.data(), event.size(), &written), 1);
  const std::string next_records = waiting_for_client();
  // The sealer makes OpenSSL's three records (in TLS 1.2's GCM, with the explicit nonce
  // counted on from the first record's).
  auto sealing = sealer(first_);
  sealing.take_nonce_of(first_record);
  std::string from_sealer;
  ASSERT_TRUE(sealing.seal_record(event, TlsRecordSealer::kApplicationData, from_sealer));
  ASSERT_TRUE(sealing.seal_record(other, TlsRecordSealer::kApplicationData, from_sealer));
  ASSERT_TRUE(sealing.seal_record(event, TlsRecordSealer::kApplicationData, from_sealer));
  EXPECT_EQ(from_sealer, first_record + next_records);
  EXPECT_EQ(sealing.sequence(), first_ + 3);
  std::string shifted;
  auto wrong = sealer(first_ + 1);
  wrong.take_nonce_of(first_record);
  ASSERT_TRUE(wrong.seal_record(event, TlsRecordSealer::kApplicationData, shifted));
  EXPECT_NE(shifted, first_record) << "another sequence number, another record";
}

TEST_P(TlsRecordSealerTest, ClientDecryptsRecordsOfEverySizeExactly) {
  auto sealing = sealer(first_);
  const std::string one_record(16384, 'a');
  std::string two_records(16385, 'b');
  two_records.back() = 'c';
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "data: event " + std::to_string(i) + "\n\n";
  for (const std::string& plaintext : {std::string(), std::string("x"), one_record, two_records, many}) {
    std::string records;
    if (plaintext.empty()) {
      ASSERT_TRUE(sealing.seal_record("", TlsRecordSealer::kApplicationData, records));  // an empty record
    } else {
      const boost::asio::const_buffer piece(plaintext.data(), plaintext.size());
      ASSERT_TRUE(sealing.seal(std::span(&piece, 1), records));
    }
    deliver(records);
    EXPECT_EQ(client_reads(), plaintext) << plaintext.size() << " bytes";
    // No record holds more than 16 KiB of plaintext: one record's framing per 16 KiB.
    const std::size_t overhead = GetParam().overhead;
    EXPECT_EQ(records.size(), std::max<std::size_t>(1, (plaintext.size() + 16383) / 16384) * overhead + plaintext.size());
    EXPECT_EQ(sealing.record_overhead(), overhead);
  }
}

TEST_P(TlsRecordSealerTest, PiecesAreGatheredIntoFewRecords) {
  auto sealing = sealer(first_);
  std::vector<std::string> pieces;
  std::vector<boost::asio::const_buffer> buffers;
  std::string expected;
  for (int i = 0; i < 300; ++i) pieces.push_back("data: " + std::string(static_cast<std::size_t>(i % 97), 'p') + "\n");
  for (const std::string& piece : pieces) {
    buffers.emplace_back(piece.data(), piece.size());
    expected += piece;
  }
  buffers.insert(buffers.begin() + 7, boost::asio::const_buffer());
  std::string records;
  ASSERT_TRUE(sealing.seal(buffers, records));
  deliver(records);
  EXPECT_EQ(client_reads(), expected);
  EXPECT_LT(sealing.sequence(), 10u) << "a record per piece";
}

TEST_P(TlsRecordSealerTest, AWrongSequenceNumberOrKeyIsRefusedByTheClient) {
  std::string records;
  auto skipped = sealer(first_ + 1);  // record first_ was never sent
  ASSERT_TRUE(skipped.seal_record("data: x\n\n", TlsRecordSealer::kApplicationData, records));
  deliver(records);
  EXPECT_EQ(client_reads(), "<error>");
}

TEST_P(TlsRecordSealerTest, AKeyFromAnotherSecretIsRefusedByTheClient) {
  secret_[0] ^= 1;
  std::string records;
  auto wrong = sealer(first_);
  ASSERT_TRUE(wrong.seal_record("data: x\n\n", TlsRecordSealer::kApplicationData, records));
  deliver(records);
  EXPECT_EQ(client_reads(), "<error>");
}

TEST_P(TlsRecordSealerTest, CloseNotifyEndsTheClientsStreamCleanly) {
  std::string records;
  auto sealing = sealer(first_);
  ASSERT_TRUE(sealing.seal(std::vector{boost::asio::const_buffer("bye", 3)}, records));
  ASSERT_TRUE(sealing.seal_close_notify(records));
  deliver(records);
  char buffer[16];
  std::size_t n = 0;
  ASSERT_EQ(SSL_read_ex(client_, buffer, sizeof buffer, &n), 1);
  EXPECT_EQ(std::string(buffer, n), "bye");
  EXPECT_EQ(SSL_read_ex(client_, buffer, sizeof buffer, &n), 0);
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN);
}

INSTANTIATE_TEST_SUITE_P(
    Suites, TlsRecordSealerTest,
    ::testing::Values(SuiteCase{"TLS_AES_128_GCM_SHA256", Suite::Aes128GcmSha256, Version::Tls13, 22},
                      SuiteCase{"TLS_AES_256_GCM_SHA384", Suite::Aes256GcmSha384, Version::Tls13, 22},
                      SuiteCase{"TLS_CHACHA20_POLY1305_SHA256", Suite::Chacha20Poly1305Sha256, Version::Tls13, 22},
                      // TLS 1.2: GCM sends an 8-byte explicit nonce, ChaCha20-Poly1305 none.
                      SuiteCase{"ECDHE-ECDSA-AES128-GCM-SHA256", Suite::Aes128GcmSha256, Version::Tls12, 29},
                      SuiteCase{"ECDHE-ECDSA-AES256-GCM-SHA384", Suite::Aes256GcmSha384, Version::Tls12, 29},
                      SuiteCase{"ECDHE-ECDSA-CHACHA20-POLY1305", Suite::Chacha20Poly1305Sha256, Version::Tls12, 21}),
    [](const auto& info) {
      std::string name;
      for (const char c : std::string(info.param.name))
        if (std::isalnum(static_cast<unsigned char>(c))) name += c;
      return name;
    });

TEST(TlsRecordSealerSuites, OnlyTheAeadSuitesOfTls13AndTls12AreSealed) {
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls13, 0x1301), Suite::Aes128GcmSha256);
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls13, 0x1302), Suite::Aes256GcmSha384);
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls13, 0x1303), Suite::Chacha20Poly1305Sha256);
  EXPECT_FALSE(TlsRecordSealer::suite_of(Version::Tls13, 0x1304));  // TLS_AES_128_CCM_SHA256
  EXPECT_FALSE(TlsRecordSealer::suite_of(Version::Tls13, 0xc02f));  // a TLS 1.2 suite
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls12, 0xc02f), Suite::Aes128GcmSha256);  // ECDHE-RSA
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls12, 0xc030), Suite::Aes256GcmSha384);
  EXPECT_EQ(TlsRecordSealer::suite_of(Version::Tls12, 0xcca8), Suite::Chacha20Poly1305Sha256);
  EXPECT_FALSE(TlsRecordSealer::suite_of(Version::Tls12, 0x1301));  // a TLS 1.3 suite
  EXPECT_FALSE(TlsRecordSealer::suite_of(Version::Tls12, 0xc027));  // ECDHE-RSA-AES128-SHA256, CBC
  EXPECT_FALSE(TlsRecordSealer::suite_of(Version::Tls12, 0xc013));  // ECDHE-RSA-AES128-SHA, CBC
  const std::vector<unsigned char> short_secret(20, 1);
  EXPECT_FALSE(TlsRecordSealer::from_traffic_secret(Suite::Aes128GcmSha256, short_secret));
  const std::vector<unsigned char> master_secret(48, 1), random(32, 2);
  EXPECT_TRUE(TlsRecordSealer::from_master_secret(Suite::Aes128GcmSha256, master_secret, random, random));
  EXPECT_FALSE(TlsRecordSealer::from_master_secret(Suite::Aes128GcmSha256, short_secret, random, random));
}

}  // namespace
}  // namespace ssehub::http
