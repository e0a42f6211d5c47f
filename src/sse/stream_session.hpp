#pragma once

#include "history/history.hpp"
#include "http/http_metrics.hpp"
#include "hub/hub.hpp"
#include "metrics/metrics.hpp"
#include "sse/replay_page.hpp"
#include "sse/resume_merge.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ssehub::http {
struct StreamConnection;  // http/stream_connection.hpp
}

namespace ssehub::sse {

// What streams count; registered once, shared by every stream.
struct StreamMetrics {
  // `connections_open` is the HTTP layer's gauge: a stream counts as the connection it took.
  StreamMetrics(metrics::Registry& registry, metrics::Gauge& connections_open);
  metrics::Gauge& connections_open;
  // By http::Protocol: dashboards that sum over the label see the totals of before.
  metrics::GaugeFamily& streams_open;       // streams attached to the hub
  metrics::CounterFamily& events_delivered; // event frames written to a client
  metrics::CounterFamily& resumes;     // streams that resumed from a Last-Event-ID
  metrics::CounterFamily& resets;      // resumes that could not be served from history
  metrics::CounterFamily& queue_overflows;  // streams closed because their write queue was full
  metrics::LatencyHistogram& accept_to_write;  // from accepting a publish to writing it
  metrics::CounterFamily& tls_parks;  // by http::TlsStream::ParkOutcome
  metrics::Gauge& tls_parked;         // streams open and parked
};

// How one kind of stream behaves; shared by every stream of that kind.
struct StreamSettings {
  std::chrono::milliseconds keepalive{30000};
  // Sent after `keepalive` of silence: a comment line that rides in the next event's block
  // (see sse::encode_comment_line). Never a block of its own: a blank line without data
  // reaches several client libraries as an empty message.
  core::EventPtr keepalive_line;
  // The retry hint, sent in the block of the stream's first event; null for none. (A client
  // library that hands a half-received block to the application when the connection breaks,
  // r3labs/sse, would make a hint that came earlier an empty message.)
  core::EventPtr preamble;
  std::size_t queue_limit_bytes = 1 << 20;
  // Send a keep-alive line at once: a client (and a proxy, and curl's output) sees a first
  // byte of the body without waiting for an event or a silence.
  bool opening_keepalive = false;
  // A fixed event repeated at an interval (the v1 demo's `data: hi!`); null for none.
  core::EventPtr periodic_frame;
  std::chrono::milliseconds periodic_interval{15000};
  // TLS only: how long the close_notify of a closing stream may take to be written.
  std::chrono::milliseconds close_timeout{10000};
  // TLS only: park the stream once its head is sent (http::TlsStream::park).
  bool tls_park_idle = false;
};

// One open text/event-stream response. Lives on one I/O thread; the hub feeds it events
// and ticks. Its write queue is bounded in bytes: a client that falls that far behind is
// disconnected (it resumes from history, so nothing is lost) and the overflow is counted.
// The transport (plain TCP or TLS) is a subclass: the plain one adds nothing but its socket.
class StreamSession : public hub::Subscriber, public std::enable_shared_from_this<StreamSession> {
 public:
  // What a stream is carried by: its own connection (plain or TLS), or one stream of an
  // HTTP/2 connection.
  enum class Transport { Tcp, Tls, Http2 };
  // A session for a connection of this kind.
  static std::shared_ptr<StreamSession> create(Transport transport, boost::asio::any_io_executor executor,
                                               hub::Hub& hub, StreamMetrics& metrics,
                                               const StreamSettings& settings, unsigned thread,
                                               std::string stream);
  ~StreamSession() override;

  // Registers with the hub; on refusal the caller answers the request with an error.
  hub::Hub::Admission attach();

  // Takes the connection and starts streaming: `head` is the HTTP/1.1 response head (empty
  // for an HTTP/2 stream, whose HEADERS its opener sent). `chunked`:
  // the body is sent in HTTP/1.1 chunks (never ended by a last chunk, so that a client sees
  // the end of a stream as an error and reconnects); otherwise the close of the connection
  // ends it (HTTP/1.0). With `resume`, history is replayed first; live events that arrive
  // meanwhile are held and sent after it, without gap or duplicate.
  void start(http::StreamConnection connection, std::shared_ptr<void> client_slot,
             std::string head, bool chunked, history::History* history, std::optional<core::ResumePoint> resume);

  void enqueue(const core::EventPtr& event) override;
  void flush() override;
  void tick(core::SteadyClock::time_point now) override;
  void shutdown() override;

 protected:
  StreamSession(hub::Hub& hub, StreamMetrics& metrics, const StreamSettings& settings, unsigned thread,
                std::string stream);

  // The transport's part, all on the session's thread.
  virtual void adopt(http::StreamConnection connection) = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  // Writes all of `buffers`, then calls on_write.
  virtual void write(std::vector<boost::asio::const_buffer> buffers) = 0;
  // Calls close() once the client has gone (or misbehaves); ignores what it sends.
  virtual void watch_for_close() = 0;
  // `write_in_flight`: a write has not completed (the client may not be reading at all).
  virtual void close_transport(bool write_in_flight) = 0;
  // A stream that is its connection counts in ssehub_connections_open; an HTTP/2 stream's
  // connection counts itself.
  virtual bool counts_as_connection() const { return true; }
  virtual http::Protocol protocol() const { return http::Protocol::Http1; }

  void on_write(boost::system::error_code ec);
  void close();
  bool closed() const { return state_ == State::Closed; }
  const StreamSettings& settings() const { return settings_; }
  StreamMetrics& metrics() { return metrics_; }

 private:
  enum class State { Created, Replaying, Live, Closing, Closed };

  // Replay: pages are asked for only while the client takes what was sent (the queue is
  // empty), so a client that does not read holds at most one page and the live events held
  // meanwhile, both within the queue's bound.
  void request_page(core::ResumePoint from);
  void on_page(std::shared_ptr<ReplayPage> page);
  void request_next_page_if_drained();
  void push(core::EventPtr event);
  void overflow();
  // Every frame enters the write queue here, so the retry hint goes with the first event.
  void queue_frame(core::EventPtr frame);
  void do_write();
  void close_later();

  std::shared_ptr<void> client_slot_;  // this client address's connection slot
  hub::Hub& hub_;
  StreamMetrics& metrics_;
  const StreamSettings& settings_;
  std::string stream_;
  unsigned thread_;
  State state_ = State::Created;
  bool write_in_flight_ = false;
  bool chunked_ = false;
  bool preamble_sent_ = false;
  bool counted_as_connection_ = false;  // in ssehub_connections_open (the destructor asks)
  bool attached_ = false;               // to the hub, and so in ssehub_streams_open
  std::string head_;                    // the HTTP response head, until it is written
  std::array<char, 20> chunk_size_line_{};  // "<hex size>\r\n" of the chunk being written
  std::uint64_t last_id_ = 0;           // newest event id queued; older ones are duplicates
  std::vector<core::EventPtr> queue_;         // waiting for the socket
  std::vector<core::EventPtr> writing_;       // handed to the socket
  std::size_t queued_bytes_ = 0;        // bytes in queue_ (and held by the replay)
  // While replaying: the merge of history pages and live events; the page to read once the
  // client has taken what was sent. Freed when the stream goes live.
  struct Replaying {
    history::History* history;
    ResumeMerge merge;
    std::optional<core::ResumePoint> next_page;
    bool page_in_flight = false;
  };
  std::unique_ptr<Replaying> replay_;
  core::SteadyClock::time_point last_write_;  // silence is measured from here
  core::SteadyClock::time_point next_periodic_;
};

}  // namespace ssehub::sse
