#include "http/tls_stream.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <sys/socket.h>

namespace ssehub::http {

namespace {

boost::system::error_code ssl_error(unsigned long error) {
  if (ERR_GET_LIB(error) == ERR_LIB_SSL && ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return boost::asio::ssl::error::stream_truncated;
  return {static_cast<int>(error), boost::asio::error::get_ssl_category()};
}

}  // namespace

BIO_METHOD* TlsEngine::bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ssehub socket");
    if (!made || !BIO_meth_set_read(made, &bio_read) || !BIO_meth_set_write(made, &bio_write) ||
        !BIO_meth_set_ctrl(made, &bio_ctrl))
      throw std::runtime_error("tls: cannot make OpenSSL's I/O method");
    return made;
  }();
  return method;
}

TlsEngine::TlsEngine(SSL_CTX* context) : ssl_(SSL_new(context)) {
  if (!ssl_) throw std::runtime_error("tls: SSL_new failed");
  BIO* bio = BIO_new(bio_method());
  if (!bio) {
    SSL_free(ssl_);
    throw std::runtime_error("tls: BIO_new failed");
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns it
  SSL_set_accept_state(ssl_);
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

int TlsEngine::bio_read(BIO* bio, char* data, int size) {
  auto& engine = *static_cast<TlsEngine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  if (engine.staged_used_ < engine.staged_size_) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(size), engine.staged_size_ - engine.staged_used_);
    std::memcpy(data, engine.staged_ + engine.staged_used_, n);
    engine.staged_used_ += n;
    return static_cast<int>(n);
  }
  if (!engine.socket_ || !engine.socket_->is_open()) {
    engine.socket_error_ = boost::asio::error::bad_descriptor;
    return -1;
  }
  // The socket is non-blocking for Asio; what is not there yet is waited for by TlsStream.
  const ssize_t n = ::recv(engine.socket_->native_handle(), data, static_cast<std::size_t>(size), MSG_DONTWAIT);
  if (n >= 0) return static_cast<int>(n);  // 0: the peer closed TCP
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_read(bio);
    return -1;
  }
  engine.socket_error_ = {errno, boost::system::system_category()};
  return -1;
}

int TlsEngine::bio_write(BIO* bio, const char* data, int size) {
  auto& engine = *static_cast<TlsEngine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  engine.output_.append(data, static_cast<std::size_t>(size));
  return size;
}

long TlsEngine::bio_ctrl(BIO*, int command, long, void*) {
  // OpenSSL flushes after each flight; the flight goes out when the operation sends it.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

TlsEngine::Step TlsEngine::outcome(int result) {
  const int error = SSL_get_error(ssl_, result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return {.wants_input = true};
    case SSL_ERROR_ZERO_RETURN:
      return {.error = boost::asio::error::eof};  // the peer's close_notify
    case SSL_ERROR_SYSCALL:
      if (socket_error_) return {.error = std::exchange(socket_error_, {})};
      if (const unsigned long queued = ERR_get_error()) return {.error = ssl_error(queued)};
      return {.error = boost::asio::ssl::error::stream_truncated};  // TCP closed mid-stream
    default:
      if (const unsigned long queued = ERR_get_error()) return {.error = ssl_error(queued)};
      return {.error = {error, boost::asio::error::get_ssl_category()}};
  }
}

TlsEngine::Step TlsEngine::handshake() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_);
  return result == 1 ? Step{} : outcome(result);
}

TlsEngine::Step TlsEngine::read(boost::asio::mutable_buffer buffer) {
  ERR_clear_error();
  std::size_t bytes = 0;
  const int result = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &bytes);
  return result == 1 ? Step{.bytes = bytes} : outcome(result);
}

TlsEngine::Step TlsEngine::write(boost::asio::const_buffer buffer) {
  ERR_clear_error();
  std::size_t bytes = 0;
  const int result = SSL_write_ex(ssl_, buffer.data(), buffer.size(), &bytes);
  return result == 1 ? Step{.bytes = bytes} : outcome(result);
}

TlsEngine::Step TlsEngine::shutdown() {
  ERR_clear_error();
  const int result = SSL_shutdown(ssl_);
  if (result == 1) return {};
  if (result == 0) return {.wants_input = true};  // ours is written; the peer's is awaited
  return outcome(result);
}

boost::asio::const_buffer TlsEngine::begin_sending() {
  sending_.swap(output_);
  return boost::asio::buffer(sending_);
}

void TlsEngine::sent() {
  // Idle connections are the common case: no capacity is kept between writes.
  std::string().swap(sending_);
}

TlsStream::TlsStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context)
    : tcp_(std::move(socket)),
      context_(std::move(context)),
      engine_(std::make_unique<TlsEngine>(context_->native_handle())) {}

}  // namespace ssehub::http
