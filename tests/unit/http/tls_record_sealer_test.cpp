#include "http/tls_record_sealer.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cctype>
#include <string>
#include <vector>

namespace ssehub::http {
namespace {

using Suite = TlsRecordSealer::Suite;

struct SuiteCase {
  const char* name;  // as SSL_CTX_set_ciphersuites knows it
  Suite suite;
};

// The secret the server's key log gave for the connection being set up (one at a time).
std::string logged_secret;

void keep_server_secret(const SSL*, const char* line) {
  const std::string text(line);
  if (text.rfind("SERVER_TRAFFIC_SECRET_0 ", 0) == 0) logged_secret = text.substr(text.rfind(' ') + 1);
}

std::vector<unsigned char> from_hex(const std::string& hex) {
  std::vector<unsigned char> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}

// A TLS 1.3 server and client SSL of one suite, talking over memory BIOs: what the server
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
    for (SSL_CTX* context : {server_context, client_context}) {
      SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
      SSL_CTX_set_ciphersuites(context, GetParam().name);
    }
    SSL_CTX_use_certificate(server_context, cert);
    SSL_CTX_use_PrivateKey(server_context, key);
    // No tickets: the server's first record of application data is its record number 0.
    SSL_CTX_set_num_tickets(server_context, 0);
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
    secret_ = from_hex(logged_secret);
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
    auto made = TlsRecordSealer::from_traffic_secret(GetParam().suite, secret_, sequence);
    EXPECT_TRUE(made);
    return *made;
  }

  SSL* server_ = nullptr;
  SSL* client_ = nullptr;
  BIO* to_client_ = nullptr;
  std::vector<unsigned char> secret_;
};

TEST_P(TlsRecordSealerTest, SealsTheVeryRecordOpenSslWrites) {
  const std::string event = "data: the same bytes\n\n";
  std::size_t written = 0;
  ASSERT_EQ(SSL_write_ex(server_, event.data(), event.size(), &written), 1);
  const std::string from_openssl = waiting_for_client();
  std::string from_sealer;
  auto first = sealer(0);
  ASSERT_TRUE(first.seal_record(event, TlsRecordSealer::kApplicationData, from_sealer));
  EXPECT_EQ(from_sealer, from_openssl);
  EXPECT_EQ(first.sequence(), 1u);
  std::string next;
  auto second = sealer(1);
  ASSERT_TRUE(second.seal_record(event, TlsRecordSealer::kApplicationData, next));
  EXPECT_NE(next, from_openssl) << "another sequence number, another nonce";
}

TEST_P(TlsRecordSealerTest, ClientDecryptsRecordsOfEverySizeExactly) {
  auto sealing = sealer(0);
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
    // No record holds more than 16 KiB of plaintext: 22 bytes of framing per 16 KiB.
    EXPECT_EQ(records.size(), std::max<std::size_t>(1, (plaintext.size() + 16383) / 16384) * 22 + plaintext.size());
  }
}

TEST_P(TlsRecordSealerTest, PiecesAreGatheredIntoFewRecords) {
  auto sealing = sealer(0);
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
  auto skipped = sealer(1);  // record 0 was never sent
  ASSERT_TRUE(skipped.seal_record("data: x\n\n", TlsRecordSealer::kApplicationData, records));
  deliver(records);
  EXPECT_EQ(client_reads(), "<error>");
}

TEST_P(TlsRecordSealerTest, AKeyFromAnotherSecretIsRefusedByTheClient) {
  secret_[0] ^= 1;
  std::string records;
  auto wrong = sealer(0);
  ASSERT_TRUE(wrong.seal_record("data: x\n\n", TlsRecordSealer::kApplicationData, records));
  deliver(records);
  EXPECT_EQ(client_reads(), "<error>");
}

TEST_P(TlsRecordSealerTest, CloseNotifyEndsTheClientsStreamCleanly) {
  std::string records;
  auto sealing = sealer(0);
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
    ::testing::Values(SuiteCase{"TLS_AES_128_GCM_SHA256", Suite::Aes128GcmSha256},
                      SuiteCase{"TLS_AES_256_GCM_SHA384", Suite::Aes256GcmSha384},
                      SuiteCase{"TLS_CHACHA20_POLY1305_SHA256", Suite::Chacha20Poly1305Sha256}),
    [](const auto& info) {
      std::string name;
      for (const char c : std::string(info.param.name))
        if (std::isalnum(static_cast<unsigned char>(c))) name += c;
      return name;
    });

TEST(TlsRecordSealerSuites, OnlyTheThreeTls13AeadSuitesAreSealed) {
  EXPECT_EQ(TlsRecordSealer::suite_of(0x1301), Suite::Aes128GcmSha256);
  EXPECT_EQ(TlsRecordSealer::suite_of(0x1302), Suite::Aes256GcmSha384);
  EXPECT_EQ(TlsRecordSealer::suite_of(0x1303), Suite::Chacha20Poly1305Sha256);
  EXPECT_FALSE(TlsRecordSealer::suite_of(0x1304));  // TLS_AES_128_CCM_SHA256
  EXPECT_FALSE(TlsRecordSealer::suite_of(0xc02f));  // a TLS 1.2 suite
  const std::vector<unsigned char> short_secret(20, 1);
  EXPECT_FALSE(TlsRecordSealer::from_traffic_secret(Suite::Aes128GcmSha256, short_secret));
}

}  // namespace
}  // namespace ssehub::http
