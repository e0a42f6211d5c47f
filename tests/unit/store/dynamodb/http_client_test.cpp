#include "scripted_http_server.hpp"
#include "store/dynamodb/http_client.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace ssehub::store::dynamodb {
namespace {

using namespace std::chrono_literals;
using testing_support::ScriptedHttpServer;
using Clock = std::chrono::steady_clock;

HttpRequest post(std::string body = "{}") {
  HttpRequest request;
  request.headers = {{"Host", "test"}, {"Content-Type", "application/x-amz-json-1.0"}};
  request.body = std::move(body);
  return request;
}

// A port nothing listens on: bound once by the kernel's choice, then released.
unsigned short closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(HttpEndpoint, ParsesSchemeHostAndPort) {
  const auto local = HttpEndpoint::parse("http://127.0.0.1:8111");
  EXPECT_FALSE(local.tls);
  EXPECT_EQ(local.host, "127.0.0.1");
  EXPECT_EQ(local.port, 8111);
  EXPECT_EQ(local.host_header(), "127.0.0.1:8111");

  const auto aws = HttpEndpoint::parse("https://dynamodb.eu-west-1.amazonaws.com/");
  EXPECT_TRUE(aws.tls);
  EXPECT_EQ(aws.port, 443);
  EXPECT_EQ(aws.host_header(), "dynamodb.eu-west-1.amazonaws.com");

  EXPECT_EQ(HttpEndpoint::parse("HTTPS://example.com:8443").host_header(), "example.com:8443");
  EXPECT_EQ(HttpEndpoint::parse("http://example.com:80").host_header(), "example.com");

  const auto ipv6 = HttpEndpoint::parse("http://[::1]:8000");
  EXPECT_EQ(ipv6.host, "::1");
  EXPECT_EQ(ipv6.host_header(), "[::1]:8000");
}

TEST(HttpEndpoint, RejectsWhatIsNotSchemeHostPort) {
  for (const char* url :
       {"ftp://example.com", "example.com", "http://", "http://host/path", "http://host?x=1",
        "http://user@host", "http://host:0", "http://host:65536", "http://host:port",
        "http://::1:80", "http://[::1"}) {
    EXPECT_THROW(HttpEndpoint::parse(url), std::invalid_argument) << url;
  }
}

TEST(HttpEndpoint, KnowsLoopbackHosts) {
  EXPECT_TRUE(HttpEndpoint::parse("http://localhost:8000").is_loopback());
  EXPECT_TRUE(HttpEndpoint::parse("http://127.0.0.1:8111").is_loopback());
  EXPECT_TRUE(HttpEndpoint::parse("http://[::1]:8111").is_loopback());
  EXPECT_FALSE(HttpEndpoint::parse("http://10.0.0.7:8000").is_loopback());
  EXPECT_FALSE(HttpEndpoint::parse("https://dynamodb.us-east-1.amazonaws.com").is_loopback());
}

TEST(HttpClient, ReusesAKeepAliveConnection) {
  ScriptedHttpServer server{ScriptedHttpServer::reply(200, R"({"n":1})"),
                            ScriptedHttpServer::reply(200, R"({"n":2})")};
  HttpClient client(HttpEndpoint::parse(server.url()));
  EXPECT_EQ(client.send(post(), Clock::now() + 2s).body, R"({"n":1})");
  EXPECT_EQ(client.send(post(), Clock::now() + 2s).body, R"({"n":2})");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, ReconnectsWhenTheServerClosedTheIdleConnection) {
  ScriptedHttpServer server{ScriptedHttpServer::reply_then_close(200, "{}"),
                            ScriptedHttpServer::reply(200, "{}")};
  HttpClient client(HttpEndpoint::parse(server.url()));
  client.send(post(), Clock::now() + 2s);
  // Give the close time to arrive, as it would during an idle spell.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(client.send(post(), Clock::now() + 2s).status, 200u);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClient, ReturnsErrorStatusesAsResponses) {
  ScriptedHttpServer server{ScriptedHttpServer::reply(400, R"({"__type":"x#ValidationException"})",
                                                      {{"x-amzn-RequestId", "abc"}})};
  HttpClient client(HttpEndpoint::parse(server.url()));
  const HttpResponse response = client.send(post("{\"a\":1}"), Clock::now() + 2s);
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(response.header("x-amzn-requestid"), "abc");
  EXPECT_EQ(server.requests().at(0).body, "{\"a\":1}");
}

TEST(HttpClient, ConnectionRefusedFailsBeforeSending) {
  HttpClient client(HttpEndpoint::parse("http://127.0.0.1:" + std::to_string(closed_port())));
  try {
    client.send(post(), Clock::now() + 2s);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.kind(), HttpError::Kind::Connect);
    EXPECT_FALSE(e.request_sent());
    EXPECT_STREQ(e.what(), "Connection refused");
  }
}

TEST(HttpClient, SilentServerTimesOutAtTheDeadline) {
  ScriptedHttpServer server{ScriptedHttpServer::silence()};
  HttpClient client(HttpEndpoint::parse(server.url()));
  const auto start = Clock::now();
  try {
    client.send(post(), start + 200ms);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.kind(), HttpError::Kind::Timeout);
    EXPECT_TRUE(e.request_sent());
  }
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 1s);
}

TEST(HttpClient, ServesSeveralThreadsAtOnce) {
  ScriptedHttpServer server{ScriptedHttpServer::reply(200, "{}")};
  HttpClient client(HttpEndpoint::parse(server.url()), 4);
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i)
        if (client.send(post(), Clock::now() + 5s).status == 200) ++answered;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(answered, 100);
  EXPECT_LE(server.connections(), 4);
}

// --- https -------------------------------------------------------------------------------

struct KeyAndCertificate {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> certificate{nullptr, X509_free};
};

// A self-signed certificate for DNS name `localhost` only.
KeyAndCertificate make_localhost_certificate() {
  KeyAndCertificate made;
  made.key.reset(EVP_EC_gen("P-256"));
  made.certificate.reset(X509_new());
  X509* cert = made.certificate.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, made.key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (!made.key || X509_sign(cert, made.key.get(), EVP_sha256()) == 0)
    throw std::runtime_error("could not make a test certificate");
  return made;
}

// One-connection TLS server answering each request with 200 {}, recording the SNI name.
class TlsServer {
 public:
  explicit TlsServer(const KeyAndCertificate& identity)
      : context_(boost::asio::ssl::context::tls_server),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    SSL_CTX_use_certificate(context_.native_handle(), identity.certificate.get());
    SSL_CTX_use_PrivateKey(context_.native_handle(), identity.key.get());
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsServer() { thread_.join(); }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string sni() const { return sni_; }

 private:
  void serve() {
    namespace http = boost::beast::http;
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(io_, context_);
    acceptor_.accept(stream.next_layer());
    boost::system::error_code ec;
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name))
      sni_ = name;
    if (ec) return;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    http::response<http::string_body> response{http::status::ok, 11};
    response.body() = "{}";
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, ec);
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string sni_;
  std::thread thread_;
};

// Points OpenSSL's default trust store (what the client loads) at one PEM file for the test.
class TrustOnly {
 public:
  explicit TrustOnly(X509* certificate)
      : path_(std::filesystem::temp_directory_path() /
              ("ssehub-test-ca-" + std::to_string(::getpid()) + ".pem")) {
    FILE* file = std::fopen(path_.c_str(), "w");
    PEM_write_X509(file, certificate);
    std::fclose(file);
    const char* previous = std::getenv("SSL_CERT_FILE");
    if (previous) previous_ = previous;
    setenv("SSL_CERT_FILE", path_.c_str(), 1);
  }
  ~TrustOnly() {
    if (previous_)
      setenv("SSL_CERT_FILE", previous_->c_str(), 1);
    else
      unsetenv("SSL_CERT_FILE");
    std::filesystem::remove(path_);
  }

 private:
  std::filesystem::path path_;
  std::optional<std::string> previous_;
};

TEST(HttpClient, HttpsSendsSniAndAcceptsATrustedCertificateForTheName) {
  const auto identity = make_localhost_certificate();
  TlsServer server(identity);
  TrustOnly trust(identity.certificate.get());
  HttpClient client(HttpEndpoint::parse("https://localhost:" + std::to_string(server.port())));
  EXPECT_EQ(client.send(post(), Clock::now() + 5s).status, 200u);
  EXPECT_EQ(server.sni(), "localhost");
}

TEST(HttpClient, HttpsRejectsACertificateTheSystemDoesNotTrust) {
  const auto identity = make_localhost_certificate();
  TlsServer server(identity);
  HttpClient client(HttpEndpoint::parse("https://localhost:" + std::to_string(server.port())));
  try {
    client.send(post(), Clock::now() + 5s);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.kind(), HttpError::Kind::Certificate);
    EXPECT_NE(std::string(e.what()).find("certificate verify failed"), std::string::npos)
        << e.what();
  }
}

TEST(HttpClient, HttpsRejectsACertificateForAnotherName) {
  const auto identity = make_localhost_certificate();
  TlsServer server(identity);
  TrustOnly trust(identity.certificate.get());
  // Trusted, but issued to "localhost", not to "127.0.0.1".
  HttpClient client(HttpEndpoint::parse("https://127.0.0.1:" + std::to_string(server.port())));
  try {
    client.send(post(), Clock::now() + 5s);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.kind(), HttpError::Kind::Certificate);
    EXPECT_NE(std::string(e.what()).find("certificate verify failed"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ssehub::store::dynamodb
