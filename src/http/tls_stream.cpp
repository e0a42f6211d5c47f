#include "http/tls_stream.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>
#include <sys/socket.h>

namespace ssehub::http {

namespace {

boost::system::error_code ssl_error(unsigned long error) {
  if (ERR_GET_LIB(error) == ERR_LIB_SSL && ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return boost::asio::ssl::error::stream_truncated;
  return {static_cast<int>(error), boost::asio::error::get_ssl_category()};
}

// Where an SSL finds its TlsEngine from OpenSSL's callbacks.
int engine_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void log_traffic_secrets(SSL_CTX* context) {
  SSL_CTX_set_keylog_callback(context, &TlsEngine::keep_traffic_secret);
}

void TlsEngine::keep_traffic_secret(const SSL* ssl, const char* line) {
  // NSS key log format: "<label> <client random, hex> <secret, hex>". TLS 1.3 logs its
  // server's first application traffic secret, TLS 1.2 its master secret.
  static constexpr std::string_view kTls13Label = "SERVER_TRAFFIC_SECRET_0 ";
  static constexpr std::string_view kTls12Label = "CLIENT_RANDOM ";
  std::string_view text(line);
  const std::size_t label = text.starts_with(kTls13Label)   ? kTls13Label.size()
                            : text.starts_with(kTls12Label) ? kTls12Label.size()
                                                            : 0;
  if (label == 0) return;
  auto* engine = static_cast<TlsEngine*>(SSL_get_ex_data(ssl, engine_index()));
  const std::size_t space = text.find(' ', label);
  if (!engine || space == std::string_view::npos) return;
  text.remove_prefix(space + 1);
  auto secret = std::make_unique<TrafficSecret>();
  if (text.size() % 2 != 0 || text.size() / 2 > sizeof secret->bytes) return;
  secret->size = text.size() / 2;
  for (std::size_t i = 0; i < secret->size; ++i) {
    const int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);
    if (high < 0 || low < 0) return OPENSSL_cleanse(secret->bytes, sizeof secret->bytes);
    secret->bytes[i] = static_cast<unsigned char>(high * 16 + low);
  }
  engine->forget_traffic_secret();
  engine->traffic_secret_ = std::move(secret);
}

std::span<const unsigned char> TlsEngine::traffic_secret() const {
  if (!traffic_secret_) return {};
  return {traffic_secret_->bytes, traffic_secret_->size};
}

void TlsEngine::forget_traffic_secret() {
  if (!traffic_secret_) return;
  OPENSSL_cleanse(traffic_secret_->bytes, sizeof traffic_secret_->bytes);
  traffic_secret_.reset();
}

bool TlsEngine::quiet() const {
  return SSL_pending(ssl_) == 0 && SSL_has_pending(ssl_) == 0 && staged_used_ == staged_size_ &&
         output_.empty() && sending_.empty();
}

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
  SSL_set_ex_data(ssl_, engine_index(), this);
}

TlsEngine::~TlsEngine() {
  forget_traffic_secret();
  SSL_free(ssl_);
}

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

namespace {

// The records in `bytes`, if it is nothing but whole application data records.
std::optional<std::vector<std::string_view>> split_records(std::string_view bytes) {
  std::vector<std::string_view> records;
  while (!bytes.empty()) {
    if (bytes.size() < 5 || bytes[0] != TlsRecordSealer::kApplicationData || bytes[1] != 3 || bytes[2] != 3)
      return std::nullopt;
    const std::size_t size = 5 + (static_cast<unsigned char>(bytes[3]) << 8 | static_cast<unsigned char>(bytes[4]));
    if (bytes.size() < size) return std::nullopt;
    records.push_back(bytes.substr(0, size));
    bytes.remove_prefix(size);
  }
  return records;
}

// Whether `sealer`, from one of the candidate sequence numbers on, makes exactly `records` of
// `chunks`; if so it is left at the sequence number after the last.
bool seals_alike(TlsRecordSealer& sealer, const std::vector<std::string>& chunks,
                 const std::vector<std::string_view>& records) {
  if (chunks.empty() || chunks.size() != records.size()) return false;
  std::string sealed;
  for (std::uint64_t candidate = 0; candidate < TlsStream::kParkSequenceCandidates; ++candidate) {
    sealer.set_sequence(candidate);
    sealer.take_nonce_of(records[0]);
    sealed.clear();
    if (!sealer.seal_record(chunks[0], TlsRecordSealer::kApplicationData, sealed)) return false;
    if (sealed != records[0]) continue;
    for (std::size_t i = 1; i < chunks.size(); ++i) {
      sealed.clear();
      if (!sealer.seal_record(chunks[i], TlsRecordSealer::kApplicationData, sealed) || sealed != records[i])
        return false;
    }
    return true;
  }
  return false;
}

}  // namespace

namespace {

// The sealer of `ssl`'s connection keyed from `secret` (TLS 1.3's server traffic secret, TLS
// 1.2's master secret), if the connection's version and suite are ones it seals.
std::optional<TlsRecordSealer> sealer_of(SSL* ssl, std::span<const unsigned char> secret) {
  using Version = TlsRecordSealer::Version;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  const int version = SSL_version(ssl);
  if (!cipher || (version != TLS1_2_VERSION && version != TLS1_3_VERSION)) return std::nullopt;
  const Version sealed_version = version == TLS1_3_VERSION ? Version::Tls13 : Version::Tls12;
  const auto suite = TlsRecordSealer::suite_of(sealed_version, SSL_CIPHER_get_protocol_id(cipher));
  if (!suite) return std::nullopt;
  if (sealed_version == Version::Tls13) return TlsRecordSealer::from_traffic_secret(*suite, secret);
  unsigned char server_random[32];
  unsigned char client_random[32];
  if (SSL_get_server_random(ssl, server_random, sizeof server_random) != sizeof server_random ||
      SSL_get_client_random(ssl, client_random, sizeof client_random) != sizeof client_random)
    return std::nullopt;
  return TlsRecordSealer::from_master_secret(*suite, secret, server_random, client_random);
}

}  // namespace

TlsStream::ParkOutcome TlsStream::park(std::span<const boost::asio::const_buffer> plaintext, std::string& records) {
  TlsEngine& engine = *engine_;
  auto sealer = sealer_of(engine.native_handle(), engine.traffic_secret());
  engine.forget_traffic_secret();
  if (!sealer) return ParkOutcome::Unsupported;
  if (!engine.quiet()) return ParkOutcome::Pending;

  // OpenSSL makes one record of each write of at most 16 KiB: the chunks are the records.
  std::vector<std::string> chunks(1);
  for (boost::asio::const_buffer buffer : plaintext) {
    while (buffer.size() > 0) {
      if (chunks.back().size() == TlsRecordSealer::kMaxPlaintext) chunks.emplace_back();
      const std::size_t take = std::min(buffer.size(), TlsRecordSealer::kMaxPlaintext - chunks.back().size());
      chunks.back().append(static_cast<const char*>(buffer.data()), take);
      buffer += take;
    }
  }
  if (chunks[0].empty()) return ParkOutcome::Unsupported;  // nothing to compare records with
  for (const std::string& chunk : chunks)
    if (engine.write(boost::asio::buffer(chunk)).error) return ParkOutcome::Failed;

  const auto captured = split_records(engine.output_view());
  if (!captured || !seals_alike(*sealer, chunks, *captured)) return ParkOutcome::Mismatch;
  records = engine.take_output();
  engine_.reset();  // the SSL, its BIO and buffers
  context_.reset();
  sealer_ = std::make_unique<TlsRecordSealer>(*sealer);
  return ParkOutcome::Parked;
}

}  // namespace ssehub::http
