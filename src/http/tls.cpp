#include "http/tls.hpp"

#include "http/http2_session.hpp"
#include "http/lingering_close.hpp"

#include <boost/asio/buffer.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace ssehub::http {

namespace ssl = boost::asio::ssl;

namespace {

std::string read_pem_file(const std::string& path, const std::string& option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + option + " " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const std::string& certificate_file,
                                               const std::string& key_file, bool http2,
                                               bool park_idle_streams) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Client-initiated renegotiation costs the server a handshake per request of the client.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // Idle streams are the common case: let OpenSSL free its record buffers between records.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // Resumption by tickets alone (TLS 1.2 tickets, TLS 1.3 stateless tickets), sealed with keys
  // of this context: a cache of sessions would keep about a kilobyte per client for hours.
  SSL_CTX_clear_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);

  const std::string certificate = read_pem_file(certificate_file, "--tls-cert");
  const std::string key = read_pem_file(key_file, "--tls-key");
  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(certificate), ec);
  if (ec)
    throw std::runtime_error("--tls-cert " + certificate_file +
                             " holds no usable PEM certificate: " + ec.message());
  context->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
  const auto packed = static_cast<unsigned long>(ec.value());
  const bool mismatch = ec ? ERR_GET_LIB(packed) == ERR_LIB_X509 &&
                                 ERR_GET_REASON(packed) == X509_R_KEY_VALUES_MISMATCH
                           : SSL_CTX_check_private_key(native) != 1;
  if (mismatch)
    throw std::runtime_error("--tls-key " + key_file + " does not match the certificate of --tls-cert " +
                             certificate_file);
  if (ec)
    throw std::runtime_error("--tls-key " + key_file + " holds no usable PEM private key: " +
                             ec.message());
  if (X509* leaf = SSL_CTX_get0_certificate(native);
      leaf && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
    spdlog::warn("tls: the certificate of {} has expired; clients will refuse it",
                 certificate_file);
  if (http2) offer_http2_by_alpn(*context);
  if (park_idle_streams) log_traffic_secrets(native);
  return context;
}

void close_tls(TlsStream& stream, std::chrono::milliseconds timeout, std::shared_ptr<void> owner,
               bool peer_may_still_send) {
  auto& tcp = boost::beast::get_lowest_layer(stream);
  if (!tcp.socket().is_open()) return;
  // With the peer's close_notify marked as received, SSL_shutdown is done once ours is out.
  SSL* ssl = stream.native_handle();
  SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
  tcp.expires_after(timeout);
  stream.async_shutdown([&stream, timeout, peer_may_still_send,
                         owner = std::move(owner)](boost::system::error_code ec) mutable {
    auto& tcp = boost::beast::get_lowest_layer(stream);
    if (!ec && peer_may_still_send) return lingering_close(tcp, timeout, std::move(owner));
    tcp.close();
  });
}

}  // namespace ssehub::http
