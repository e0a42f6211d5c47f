#pragma once

#include "http/tls_record_sealer.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>

namespace ssehub::http {

// One TLS connection's OpenSSL state, driven by TlsStream. Its ciphertext goes through no
// fixed buffers: OpenSSL reads the socket itself (without blocking), after at most 5 bytes that
// TlsStream waited for, and what OpenSSL writes is held only until it is on the socket. With
// SSL_MODE_RELEASE_BUFFERS an idle connection keeps no buffer at all (Asio's ssl::stream
// keeps 68 KiB, four buffers of 17 KiB, for the connection's life).
class TlsEngine {
 public:
  // What an OpenSSL call needs next: nothing (it is done, with `error` and `bytes`), or
  // ciphertext from the peer.
  struct Step {
    bool wants_input = false;
    boost::system::error_code error;
    std::size_t bytes = 0;
  };

  explicit TlsEngine(SSL_CTX* context);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  SSL* native_handle() { return ssl_; }
  // The socket OpenSSL reads; set before each operation (the stream may have moved).
  void use_socket(boost::asio::ip::tcp::socket& socket) { socket_ = &socket; }

  Step handshake();
  Step read(boost::asio::mutable_buffer buffer);
  // Encrypts all of `buffer` into the pending output.
  Step write(boost::asio::const_buffer buffer);
  Step shutdown();

  // Where TlsStream waits for the peer's next bytes, and how many arrived.
  boost::asio::mutable_buffer input_space() { return boost::asio::buffer(staged_); }
  void received(std::size_t bytes) { staged_size_ = bytes, staged_used_ = 0; }

  bool has_output() const { return !output_.empty(); }
  // The pending output, moved to a buffer that must stay untouched until sent() is called.
  boost::asio::const_buffer begin_sending();
  void sent();
  // True when OpenSSL holds nothing in either direction: no record read in part or whole and
  // not handed out, nothing written and not yet sent.
  bool quiet() const;
  std::string_view output_view() const { return output_; }
  std::string take_output() { return std::exchange(output_, {}); }

  // TLS 1.3's SERVER_TRAFFIC_SECRET_0 or TLS 1.2's master secret, as the context's key log
  // gave it (see log_traffic_secrets), kept until TlsStream::park or forget_traffic_secret.
  std::span<const unsigned char> traffic_secret() const;
  void forget_traffic_secret();

 private:
  struct TrafficSecret {
    unsigned char bytes[64];
    std::size_t size;
  };
  static void keep_traffic_secret(const SSL* ssl, const char* line);
  friend void log_traffic_secrets(SSL_CTX* context);

  static int bio_read(BIO* bio, char* data, int size);
  static int bio_write(BIO* bio, const char* data, int size);
  static long bio_ctrl(BIO* bio, int command, long number, void* pointer);
  static BIO_METHOD* bio_method();
  Step outcome(int result);

  SSL* ssl_;
  boost::asio::ip::tcp::socket* socket_ = nullptr;
  // A TLS record header is 5 bytes: waiting for that much costs nothing while idle.
  unsigned char staged_[5];
  std::size_t staged_size_ = 0;
  std::size_t staged_used_ = 0;
  boost::system::error_code socket_error_;
  std::string output_;   // written by OpenSSL, not yet on its way
  std::string sending_;  // on its way to the socket
  std::unique_ptr<TrafficSecret> traffic_secret_;
};

// Makes connections of `context` keep their TLS 1.3 server traffic secret or TLS 1.2 master
// secret (SSL's key log callback), so that an SSE stream can be parked (TlsStream::park).
void log_traffic_secrets(SSL_CTX* context);

// The server side of a TLS connection over a Beast tcp_stream (whose timeouts apply to every
// operation), with the interface Asio's ssl::stream offers the sessions: async_handshake,
// async_read_some, async_write_some, async_shutdown, native_handle and next_layer (so that
// beast::get_lowest_layer finds the tcp_stream). One read and one write may be in flight at
// once; a handshake or shutdown runs alone. The connection holds the context it was made with,
// so a context replaced for new connections (certificate reload) lives as long as they do.
class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

  TlsStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context);
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) = delete;  // as Beast's tcp_stream
  ~TlsStream() = default;

  executor_type get_executor() { return tcp_.get_executor(); }
  next_layer_type& next_layer() { return tcp_; }
  // Not once parked: OpenSSL's state is gone then.
  SSL* native_handle() { return engine_->native_handle(); }

  // Parking: an HTTP/1.1 SSE stream only sends once its response head is out, so its record
  // layer can be taken over, as kernel TLS does, and OpenSSL's state (about 14 KB) freed.
  enum class ParkOutcome {
    Parked,       // `records` holds `plaintext` sealed; send it on next_layer(), then seal with sealer()
    Unsupported,  // not TLS 1.3 or 1.2 with a suite TlsRecordSealer seals (TLS 1.2's CBC
                  // suites), no secret logged, or no plaintext: write as usual
    Pending,      // OpenSSL holds bytes in one direction or the other: write as usual
    Mismatch,     // the sealer did not make OpenSSL's records: async_flush sends OpenSSL's
    Failed,       // OpenSSL failed to encrypt: the connection is broken
  };
  static constexpr std::uint64_t kParkSequenceCandidates = 64;
  // Has OpenSSL encrypt `plaintext` and captures its records instead of sending them; parks
  // only if a TlsRecordSealer keyed from the logged secret makes byte-identical records at one
  // of the first kParkSequenceCandidates sequence numbers (TLS 1.3 counts from 0, TLS 1.2 from
  // its Finished; TLS 1.2's GCM takes its explicit nonce from OpenSSL's first record). So no
  // nonce is ever used twice: the sealer goes on from the sequence number and nonce after
  // OpenSSL's last. The secret is wiped either way. Call with no operation in flight.
  ParkOutcome park(std::span<const boost::asio::const_buffer> plaintext, std::string& records);
  bool parked() const { return sealer_ != nullptr; }
  // For a connection that will not be parked (HTTP/2): wipes the traffic secret now.
  void forget_traffic_secret() {
    if (engine_) engine_->forget_traffic_secret();
  }
  TlsRecordSealer& sealer() { return *sealer_; }

  // Sends what OpenSSL has written and not sent (the records of a park that did not happen).
  template <class Handler>
  auto async_flush(Handler&& handler) {
    return start<void(boost::system::error_code)>([](TlsEngine&) { return TlsEngine::Step{}; }, true,
                                                  std::forward<Handler>(handler));
  }

  template <class Handler>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type, Handler&& handler) {
    return start<void(boost::system::error_code)>(
        [](TlsEngine& engine) { return engine.handshake(); }, true, std::forward<Handler>(handler));
  }

  template <class Handler>
  auto async_shutdown(Handler&& handler) {
    return start<void(boost::system::error_code)>(
        [](TlsEngine& engine) { return engine.shutdown(); }, true, std::forward<Handler>(handler));
  }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    boost::asio::mutable_buffer first;
    for (boost::asio::mutable_buffer buffer : boost::beast::buffers_range_ref(buffers))
      if (buffer.size() > 0) {
        first = buffer;
        break;
      }
    // What reading causes OpenSSL to write (a key update, an alert) waits for the next write:
    // a read in flight must not write beside the writes of the session.
    return start<void(boost::system::error_code, std::size_t)>(
        [first](TlsEngine& engine) {
          return first.size() == 0 ? TlsEngine::Step{} : engine.read(first);
        },
        false, std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return start<void(boost::system::error_code, std::size_t)>(
        // Runs once, within this call, while `buffers` is valid.
        [&buffers](TlsEngine& engine) { return encrypt(engine, boost::beast::buffers_range_ref(buffers)); },
        true, std::forward<Handler>(handler));
  }

 private:
  // Encrypts what one write takes of `buffers` (64 KiB at most). Small buffers are gathered
  // into records of up to 16 KiB on the stack, so that an event of many pieces is one record.
  template <class Range>
  static TlsEngine::Step encrypt(TlsEngine& engine, const Range& buffers) {
    constexpr std::size_t kRecord = 16 * 1024;
    constexpr std::size_t kPerWrite = 64 * 1024;
    unsigned char gathered[kRecord];
    std::size_t gathered_size = 0;
    std::size_t taken = 0;
    TlsEngine::Step step;
    const auto flush = [&] {
      if (gathered_size == 0) return true;
      step = engine.write(boost::asio::buffer(gathered, gathered_size));
      gathered_size = 0;
      return !step.error;
    };
    for (boost::asio::const_buffer buffer : buffers) {
      if (taken >= kPerWrite) break;
      if (buffer.size() == 0) continue;  // an empty piece may have no data pointer at all
      buffer = boost::asio::buffer(buffer, kPerWrite - taken);
      taken += buffer.size();
      if (gathered_size + buffer.size() <= kRecord) {
        std::memcpy(gathered + gathered_size, buffer.data(), buffer.size());
        gathered_size += buffer.size();
        continue;
      }
      if (!flush()) return step;
      step = engine.write(buffer);
      if (step.error) return step;
    }
    if (!flush()) return step;
    return {.bytes = taken};
  }

  template <class Signature, class Action, class Handler>
  auto start(Action action, bool sends_output, Handler&& handler);

  template <class Action, bool kCountsBytes>
  struct Operation;

  boost::beast::tcp_stream tcp_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<TlsEngine> engine_;  // BIO callbacks point at it: it must not move
  std::unique_ptr<TlsRecordSealer> sealer_;  // once parked, in place of engine_
};

// One operation: runs `action` (an OpenSSL call) until it is done, reading the peer's bytes
// when it asks for them and, if `sends_output`, writing what OpenSSL wrote before waiting and
// before completing.
template <class Action, bool kCountsBytes>
struct TlsStream::Operation {
  enum class State { Starting, Receiving, Sending, Posted };
  TlsStream& stream;
  Action action;
  bool sends_output;
  State state = State::Starting;
  bool done = false;  // the action has its outcome; what is left is sending its output
  TlsEngine::Step outcome{};

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}, std::size_t bytes = 0) {
    TlsEngine& engine = *stream.engine_;
    switch (state) {
      case State::Posted:
        return complete(self, outcome.error, outcome.bytes);
      case State::Receiving:
        if (ec) return finish(self, ec == boost::asio::error::eof ? boost::asio::ssl::error::stream_truncated : ec);
        engine.received(bytes);
        break;
      case State::Sending:
        engine.sent();
        if (ec) return finish(self, done && outcome.error ? outcome.error : ec);
        if (done) {
          if (engine.has_output()) return send(self);
          return finish(self, outcome.error, outcome.bytes);
        }
        break;
      case State::Starting:
        break;
    }
    engine.use_socket(stream.tcp_.socket());
    outcome = action(engine);
    if (!outcome.wants_input) done = true;
    // A failure's alert is sent too, so that the peer learns why (OpenSSL writes none for a
    // plain HTTP request, which the session answers in plain text).
    if (sends_output && engine.has_output()) return send(self);
    if (done) return finish(self, outcome.error, outcome.bytes);
    state = State::Receiving;
    stream.tcp_.async_read_some(engine.input_space(), std::move(self));
  }

  template <class Self>
  void send(Self& self) {
    state = State::Sending;
    boost::asio::async_write(stream.tcp_, stream.engine_->begin_sending(), std::move(self));
  }

  // Completes, never from within the call that started the operation.
  template <class Self>
  void finish(Self& self, boost::system::error_code ec, std::size_t bytes = 0) {
    if (state != State::Starting) return complete(self, ec, bytes);
    outcome.error = ec, outcome.bytes = bytes;
    state = State::Posted;
    boost::asio::post(stream.tcp_.get_executor(), boost::beast::bind_front_handler(std::move(self)));
  }

  template <class Self>
  static void complete(Self& self, boost::system::error_code ec, std::size_t bytes) {
    if constexpr (kCountsBytes) {
      self.complete(ec, bytes);
    } else {
      self.complete(ec);
    }
  }
};

template <class Signature, class Action, class Handler>
auto TlsStream::start(Action action, bool sends_output, Handler&& handler) {
  constexpr bool kCountsBytes = !std::is_same_v<Signature, void(boost::system::error_code)>;
  return boost::asio::async_compose<Handler, Signature>(
      Operation<Action, kCountsBytes>{*this, std::move(action), sends_output}, handler, tcp_);
}

}  // namespace ssehub::http
