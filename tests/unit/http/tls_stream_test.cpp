#include "http/tls.hpp"
#include "http/tls_stream.hpp"
#include "support/temp_path.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ssehub::http {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;

// A self-signed P-256 certificate for CN=localhost and its key, written as PEM files.
struct CertificateFiles {
  explicit CertificateFiles(const std::string& name)
      : cert(test_support::unique_temp_path("ssehub_tls_stream_" + name, ".crt")),
        key(test_support::unique_temp_path("ssehub_tls_stream_" + name, ".key")) {
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x509 = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), -60);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, pkey);
    X509_NAME* subject = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(x509, subject);
    X509_sign(x509, pkey, EVP_sha256());
    FILE* out = std::fopen(cert.c_str(), "w");
    PEM_write_X509(out, x509);
    std::fclose(out);
    out = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(out, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
    X509_free(x509);
    EVP_PKEY_free(pkey);
  }
  ~CertificateFiles() {
    std::filesystem::remove(cert);
    std::filesystem::remove(key);
  }
  std::filesystem::path cert;
  std::filesystem::path key;
};

// The subject CN of the certificate a client was shown.
std::string peer_name(SSL* ssl) {
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (!peer) return "";
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof name);
  X509_free(peer);
  return name;
}

// A server TlsStream and a client (Asio's ssl::stream, so the other side is OpenSSL driven
// the usual way) connected over loopback TCP, both handshaken.
class TlsStreamTest : public ::testing::Test {
 protected:
  void connect(std::shared_ptr<ssl::context> server_context, int client_max_version = 0,
               SSL_SESSION* resume = nullptr) {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    client_.emplace(io_, client_context_);
    if (client_max_version) SSL_set_max_proto_version(client_->native_handle(), client_max_version);
    if (resume) SSL_set_session(client_->native_handle(), resume);
    client_->next_layer().connect(acceptor.local_endpoint());
    server_.emplace(acceptor.accept(), std::move(server_context));
    bool server_done = false;
    bool client_done = false;
    server_->async_handshake(ssl::stream_base::server, [&](boost::system::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      server_done = true;
    });
    client_->async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      client_done = true;
    });
    run_until([&] { return server_done && client_done; });
  }

  template <class Done>
  void run_until(Done done) {
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(done()) << "not done within 10 s";
  }

  // What the client reads until `size` bytes have come.
  // The server's read of what the client sends next, as an event stream keeps one in flight
  // to see the client leave.
  struct PendingRead {
    char scratch[64];
    boost::system::error_code error;
    bool done = false;
  };
  void start_server_read(PendingRead& read) {
    server_->async_read_some(asio::buffer(read.scratch), [&read](boost::system::error_code ec, std::size_t) {
      read.error = ec;
      read.done = true;
    });
  }

  std::string client_reads(std::size_t size) {
    std::string received(size, '\0');
    bool done = false;
    asio::async_read(*client_, asio::buffer(received), [&](boost::system::error_code ec, std::size_t n) {
      EXPECT_FALSE(ec) << ec.message();
      received.resize(n);
      done = true;
    });
    run_until([&] { return done; });
    return received;
  }

  asio::io_context io_;
  ssl::context client_context_{ssl::context::tls_client};
  std::optional<TlsStream> server_;
  std::optional<ssl::stream<tcp::socket>> client_;
  CertificateFiles files_{"localhost"};
};

TEST_F(TlsStreamTest, WritesOfManyPiecesArriveWholeAndInOrder) {
  connect(make_tls_context(files_.cert, files_.key));
  // An event made of many small pieces and a large one, as a stream's queue hands them over:
  // more than one write_some takes (64 KiB), more than one record holds (16 KiB).
  std::vector<std::string> pieces;
  std::string expected;
  for (int i = 0; i < 500; ++i) pieces.push_back("data: piece " + std::to_string(i) + "\n");
  pieces.push_back(std::string(200 * 1024, 'x'));
  pieces.push_back("\n\n");
  std::vector<asio::const_buffer> buffers;
  for (const std::string& piece : pieces) {
    expected += piece;
    buffers.push_back(asio::buffer(piece));
  }
  // Empty pieces, which carry no data pointer at all (a chunk's empty extension, say).
  buffers.insert(buffers.begin(), asio::const_buffer());
  buffers.insert(buffers.begin() + 250, asio::const_buffer());
  std::size_t written = 0;
  asio::async_write(*server_, buffers, [&](boost::system::error_code ec, std::size_t n) {
    EXPECT_FALSE(ec) << ec.message();
    written = n;
  });
  EXPECT_EQ(client_reads(expected.size()), expected);
  run_until([&] { return written == expected.size(); });
}

TEST_F(TlsStreamTest, AReadWaitingForTheClientDoesNotHoldUpWrites) {
  connect(make_tls_context(files_.cert, files_.key));
  // An event stream: a read always in flight (to see the client leave) while events go out.
  PendingRead read;
  start_server_read(read);
  for (int i = 0; i < 3; ++i) {
    const std::string event = "data: " + std::to_string(i) + "\n\n";
    asio::async_write(*server_, asio::buffer(event), [](boost::system::error_code ec, std::size_t) {
      EXPECT_FALSE(ec) << ec.message();
    });
    EXPECT_EQ(client_reads(event.size()), event);
  }
  EXPECT_FALSE(read.done);
  // The client's close_notify ends the read as a clean end of stream.
  client_->async_shutdown([](boost::system::error_code) {});
  run_until([&] { return read.done; });
  EXPECT_EQ(read.error, asio::error::eof);
}

TEST_F(TlsStreamTest, ClientThatDropsTcpWithoutCloseNotifyIsSeenAsTruncated) {
  connect(make_tls_context(files_.cert, files_.key));
  PendingRead read;
  start_server_read(read);
  client_->next_layer().shutdown(tcp::socket::shutdown_send);
  run_until([&] { return read.done; });
  EXPECT_EQ(read.error, ssl::error::stream_truncated) << read.error.message();
}

// Resumption by session tickets, with no session cache on the server, in both versions.
class TlsResumptionTest : public TlsStreamTest, public ::testing::WithParamInterface<int> {};

TEST_P(TlsResumptionTest, ASecondConnectionResumesWithTheTicketOfTheFirstAndParks) {
  auto context = make_tls_context(files_.cert, files_.key, false, true);
  connect(context, GetParam());
  EXPECT_FALSE(SSL_session_reused(server_->native_handle()));
  EXPECT_EQ(SSL_version(server_->native_handle()), GetParam());
  // TLS 1.3 tickets come after the handshake: the client reads them with the first data.
  const std::string hello = "hello";
  asio::async_write(*server_, asio::buffer(hello), [](boost::system::error_code, std::size_t) {});
  EXPECT_EQ(client_reads(hello.size()), hello);
  SSL_SESSION* session = SSL_get1_session(client_->native_handle());
  ASSERT_NE(session, nullptr);
  ASSERT_TRUE(SSL_SESSION_is_resumable(session));
  ASSERT_TRUE(SSL_SESSION_has_ticket(session));
  // As after a clean close: OpenSSL spoils the session of a client freed mid-connection.
  SSL_set_shutdown(client_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);

  connect(context, GetParam(), session);
  SSL_SESSION_free(session);
  EXPECT_TRUE(SSL_session_reused(server_->native_handle()));
  EXPECT_TRUE(SSL_session_reused(client_->native_handle()));
  // A resumed connection's secret is logged too: it parks.
  const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  const asio::const_buffer buffer = asio::buffer(head);
  std::string records;
  ASSERT_EQ(server_->park(std::span(&buffer, 1), records), TlsStream::ParkOutcome::Parked);
  asio::write(server_->next_layer(), asio::buffer(records));
  EXPECT_EQ(client_reads(head.size()), head);
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsResumptionTest, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const auto& info) { return info.param == TLS1_2_VERSION ? "Tls12" : "Tls13"; });

TEST_F(TlsStreamTest, AConnectionKeepsItsContextAfterTheSlotIsGivenAnother) {
  TlsContextSlot slot(make_tls_context(files_.cert, files_.key));
  connect(slot.current());
  EXPECT_EQ(peer_name(client_->native_handle()), "localhost");
  std::optional<TlsStream> before = std::move(server_);
  std::optional<ssl::stream<tcp::socket>> before_client = std::move(client_);

  CertificateFiles renewed("renewed");
  slot.replace(make_tls_context(renewed.cert, renewed.key));
  // Nothing but the open connection holds the first context now.
  connect(slot.current());
  EXPECT_EQ(peer_name(client_->native_handle()), "renewed");

  server_.emplace(std::move(*before));
  client_.emplace(std::move(*before_client));
  const std::string event = "data: still here\n\n";
  asio::async_write(*server_, asio::buffer(event), [](boost::system::error_code, std::size_t) {});
  EXPECT_EQ(client_reads(event.size()), event);
  EXPECT_EQ(peer_name(client_->native_handle()), "localhost");
}

// Parking: the stream's first write goes out as OpenSSL's records, and everything after as
// the sealer's, which the client (OpenSSL, driven by Asio) must read as one stream.
class TlsParkTest : public TlsStreamTest {
 protected:
  TlsStream::ParkOutcome park(const std::string& head) {
    const asio::const_buffer buffer = asio::buffer(head);
    std::string records;
    const auto outcome = server_->park(std::span(&buffer, 1), records);
    if (outcome == TlsStream::ParkOutcome::Parked) asio::write(server_->next_layer(), asio::buffer(records));
    return outcome;
  }
  void expect_client_reads_sealed_events();
  // The TLS 1.2 suites the client offers from the next connect on.
  void offer_client_suites(const char* suites) {
    ASSERT_EQ(SSL_CTX_set_cipher_list(client_context_.native_handle(), suites), 1);
  }
  void send_sealed(const std::string& plaintext) {
    const asio::const_buffer buffer = asio::buffer(plaintext);
    std::string records;
    ASSERT_TRUE(server_->sealer().seal(std::span(&buffer, 1), records));
    asio::write(server_->next_layer(), asio::buffer(records));
  }
};

// What a parked stream sends after its head: many events in one write and one event of
// three records; then close_notify, which the client reads as a clean end.
void TlsParkTest::expect_client_reads_sealed_events() {
  std::string events;
  for (int i = 0; i < 300; ++i) events += "data: " + std::to_string(i) + std::string(100, '.') + "\n\n";
  const std::string large = "data: " + std::string(40000, 'L') + "\n\n";
  send_sealed(events);
  send_sealed(large);
  EXPECT_EQ(client_reads(events.size() + large.size()), events + large);

  std::string close_notify;
  ASSERT_TRUE(server_->sealer().seal_close_notify(close_notify));
  asio::write(server_->next_layer(), asio::buffer(close_notify));
  char byte;
  boost::system::error_code ec;
  client_->read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

TEST_F(TlsParkTest, AParkedStreamSendsWhatTheClientReadsAfterOpenSslsRecords) {
  connect(make_tls_context(files_.cert, files_.key, false, true), TLS1_3_VERSION);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
  ASSERT_EQ(park(head), TlsStream::ParkOutcome::Parked);
  EXPECT_TRUE(server_->parked());
  // Two session tickets went before: OpenSSL's record of the head was its third.
  EXPECT_EQ(server_->sealer().sequence(), 3u);
  EXPECT_EQ(client_reads(head.size()), head);
  expect_client_reads_sealed_events();
}

// TLS 1.2 with each AEAD suite the server offers a TLS 1.2 client (its certificate is ECDSA).
class TlsParkTls12Test : public TlsParkTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(TlsParkTls12Test, AParkedTls12StreamSendsWhatTheClientReads) {
  offer_client_suites(GetParam());
  connect(make_tls_context(files_.cert, files_.key, false, true), TLS1_2_VERSION);
  ASSERT_EQ(SSL_version(client_->native_handle()), TLS1_2_VERSION);
  ASSERT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(client_->native_handle())), GetParam());
  // A long head: OpenSSL's records of it are two, sealed alike from its Finished (record 0) on.
  const std::string head = "HTTP/1.1 200 OK\r\nX-Padding: " + std::string(20000, 'h') + "\r\n\r\n";
  ASSERT_EQ(park(head), TlsStream::ParkOutcome::Parked);
  EXPECT_EQ(server_->sealer().version(), TlsRecordSealer::Version::Tls12);
  EXPECT_EQ(server_->sealer().sequence(), 3u);
  EXPECT_EQ(client_reads(head.size()), head);
  expect_client_reads_sealed_events();
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsParkTls12Test,
                         ::testing::Values("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                           "ECDHE-ECDSA-CHACHA20-POLY1305"),
                         [](const auto& info) {
                           std::string name;
                           for (const char c : std::string(info.param))
                             if (std::isalnum(static_cast<unsigned char>(c))) name += c;
                           return name;
                         });

TEST_F(TlsParkTest, CbcSuitesAndContextsThatDoNotKeepTheSecretAreNotParked) {
  // TLS 1.2's CBC suites (MAC-then-encrypt, padding) are left to OpenSSL.
  offer_client_suites("ECDHE-ECDSA-AES128-SHA256");
  connect(make_tls_context(files_.cert, files_.key, false, true), TLS1_2_VERSION);
  ASSERT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(client_->native_handle())), "ECDHE-ECDSA-AES128-SHA256");
  EXPECT_EQ(park("head"), TlsStream::ParkOutcome::Unsupported);
  asio::async_write(*server_, asio::buffer(std::string_view("head")), [](boost::system::error_code, std::size_t) {});
  EXPECT_EQ(client_reads(4), "head");
  offer_client_suites("DEFAULT");
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    connect(make_tls_context(files_.cert, files_.key, false, false), version);
    EXPECT_EQ(park("head"), TlsStream::ParkOutcome::Unsupported);
    EXPECT_FALSE(server_->parked());
    // Not parked, the stream goes on with OpenSSL.
    asio::async_write(*server_, asio::buffer(std::string_view("head")), [](boost::system::error_code, std::size_t) {});
    EXPECT_EQ(client_reads(4), "head");
  }
}

TEST_F(TlsParkTest, BytesOpenSslHoldsForTheServerPreventParking) {
  connect(make_tls_context(files_.cert, files_.key, false, true), TLS1_3_VERSION);
  asio::write(*client_, asio::buffer(std::string_view("more")));
  char first = 0;
  bool read = false;
  server_->async_read_some(asio::buffer(&first, 1), [&](boost::system::error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    read = true;
  });
  run_until([&] { return read; });
  EXPECT_EQ(park("head"), TlsStream::ParkOutcome::Pending);  // "ore" is still OpenSSL's
  EXPECT_FALSE(server_->parked());
}

TEST_F(TlsParkTest, AKeyUpdateBeforeTheHeadLeavesTheStreamWithOpenSsl) {
  connect(make_tls_context(files_.cert, files_.key, false, true), TLS1_3_VERSION);
  // The client updates its keys and asks the server to update its own: the server's
  // SERVER_TRAFFIC_SECRET_0 no longer seals its next records.
  ASSERT_EQ(SSL_key_update(client_->native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
  asio::write(*client_, asio::buffer(std::string_view("x")));
  char byte = 0;
  bool read = false;
  server_->async_read_some(asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    read = true;
  });
  run_until([&] { return read; });
  const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  const auto outcome = park(head);
  // OpenSSL wrote its KeyUpdate before the head, whose record is under the new key.
  ASSERT_EQ(outcome, TlsStream::ParkOutcome::Mismatch);
  EXPECT_FALSE(server_->parked());
  bool sent = false;
  server_->async_flush([&](boost::system::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    sent = true;
  });
  EXPECT_EQ(client_reads(head.size()), head);
  run_until([&] { return sent; });
}

TEST(TlsContextTest, AKeyOfAnotherCertificateIsRefusedNamingTheFiles) {
  CertificateFiles one("one");
  CertificateFiles other("other");
  try {
    make_tls_context(one.cert, other.key);
    FAIL() << "a mismatched key was taken";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(other.key.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ssehub::http
