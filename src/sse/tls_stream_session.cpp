#include "sse/tls_stream_session.hpp"

#include "http/stream_connection.hpp"
#include "http/tls.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <optional>

namespace ssehub::sse {

namespace {

using Outcome = http::TlsStream::ParkOutcome;

// Readability of the socket says nothing about the TLS layer (a record may hold no
// application data), so an unparked stream sees the client leave by reading records into a
// small buffer. A parked one waits for readability only: it decrypts nothing, and any byte
// ends it.
class TlsStreamSession final : public StreamSession {
 public:
  TlsStreamSession(hub::Hub& hub, StreamMetrics& metrics, const StreamSettings& settings, unsigned thread,
                   std::string stream)
      : StreamSession(hub, metrics, settings, thread, std::move(stream)),
        park_pending_(settings.tls_park_idle) {}

 private:
  void adopt(http::StreamConnection connection) override {
    stream_.emplace(std::get<http::TlsStream>(std::move(connection.transport)));
  }

  boost::asio::any_io_executor executor() override { return stream_->get_executor(); }

  void write(std::vector<boost::asio::const_buffer> buffers) override {
    if (stream_->parked()) return write_sealed(buffers);
    if (park_pending_) return write_parking(buffers);
    boost::asio::async_write(*stream_, std::move(buffers),
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               static_cast<TlsStreamSession&>(*self).on_write(ec);
                             });
  }

  // The first write: OpenSSL encrypts it, and the stream parks if the sealer makes the same
  // records (see http::TlsStream::park). The close watch starts after, in its parked or
  // unparked form: a read in flight would keep OpenSSL busy.
  void write_parking(std::vector<boost::asio::const_buffer>& buffers) {
    park_pending_ = false;
    std::string records;
    const Outcome outcome = stream_->park(buffers, records);
    metrics().tls_parks[outcome].add();
    if (outcome == Outcome::Parked) {
      parked_ = true;
      metrics().tls_parked.add(1);
      sealed_ = std::move(records);
    } else if (outcome == Outcome::Mismatch || outcome == Outcome::Failed) {
      spdlog::warn("sse: TLS stream not parked ({}); OpenSSL keeps it",
                   outcome == Outcome::Mismatch ? "its records differ from the sealer's" : "encryption failed");
    }
    if (watch_deferred_) watch_for_close();
    switch (outcome) {
      case Outcome::Parked:
        return send_sealed();
      case Outcome::Mismatch:
        return stream_->async_flush([self = shared_from_this()](boost::system::error_code ec) {
          static_cast<TlsStreamSession&>(*self).on_write(ec);
        });
      case Outcome::Failed:
        return fail_write();
      case Outcome::Unsupported:
      case Outcome::Pending:
        return write(std::move(buffers));
    }
  }

  void write_sealed(const std::vector<boost::asio::const_buffer>& buffers) {
    // Past the records one key may seal, the stream ends: the client comes back with new keys.
    if (!stream_->sealer().seal(buffers, sealed_)) return fail_write();
    send_sealed();
  }

  void send_sealed() {
    boost::asio::async_write(stream_->next_layer(), boost::asio::buffer(sealed_),
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               auto& session = static_cast<TlsStreamSession&>(*self);
                               std::string().swap(session.sealed_);  // no capacity kept while idle
                               session.on_write(ec);
                             });
  }

  void fail_write() {
    boost::asio::post(executor(), [self = shared_from_this()] {
      static_cast<TlsStreamSession&>(*self).on_write(make_error_code(boost::system::errc::protocol_error));
    });
  }

  void watch_for_close() override {
    if (park_pending_) {
      watch_deferred_ = true;  // started by write_parking
      return;
    }
    watch_deferred_ = false;
    if (stream_->parked()) {
      stream_->next_layer().socket().async_wait(
          boost::asio::ip::tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code) {
            auto& session = static_cast<TlsStreamSession&>(*self);
            session.peer_gone_ = true;  // or misbehaving: either way owed no close_notify
            session.close();
          });
      return;
    }
    stream_->async_read_some(
        boost::asio::buffer(scratch_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          auto& session = static_cast<TlsStreamSession&>(*self);
          // eof: the client's close_notify, which is answered with ours; any other error
          // leaves nobody to answer.
          if (ec && ec != boost::asio::error::eof) session.peer_gone_ = true;
          if (ec || session.closed()) return session.close();
          session.watch_for_close();
        });
  }

  void close_transport(bool write_in_flight) override {
    if (parked_) metrics().tls_parked.add(-1);
    parked_ = false;
    auto& tcp = stream_->next_layer();
    if (write_in_flight || peer_gone_) {
      // A client that is not taking what it was sent will not take close_notify either; one
      // that left (or broke the TLS stream) cannot.
      tcp.close();
      return;
    }
    if (!stream_->parked()) return http::close_tls(*stream_, settings().close_timeout, shared_from_this());
    sealed_.clear();
    if (!stream_->sealer().seal_close_notify(sealed_)) return tcp.close();
    tcp.expires_after(settings().close_timeout);
    boost::asio::async_write(tcp, boost::asio::buffer(sealed_),
                             [self = shared_from_this()](boost::system::error_code, std::size_t) {
                               static_cast<TlsStreamSession&>(*self).stream_->next_layer().close();
                             });
  }

  std::optional<http::TlsStream> stream_;
  std::string sealed_;  // records on their way, while parked
  std::array<char, 64> scratch_;
  bool park_pending_;          // the first write is still to come, and will try to park
  bool watch_deferred_ = false;
  bool parked_ = false;        // counted in tls_parked
  bool peer_gone_ = false;     // the close watcher's read failed other than by close_notify
};

}  // namespace

std::shared_ptr<StreamSession> make_tls_stream_session(hub::Hub& hub, StreamMetrics& metrics,
                                                       const StreamSettings& settings, unsigned thread,
                                                       std::string stream) {
  return std::make_shared<TlsStreamSession>(hub, metrics, settings, thread, std::move(stream));
}

}  // namespace ssehub::sse
