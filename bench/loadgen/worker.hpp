#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chunked_decoder.hpp"
#include "h2_client.hpp"
#include "histogram.hpp"
#include "options.hpp"
#include "response_head.hpp"
#include "sse_parser.hpp"
#include "text_template.hpp"

namespace loadgen {

int64_t steady_ns();

// A counter written by one thread and read by any: a relaxed load and store, no locked add.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A maximum written by one thread and read by any.
class MaxValue {
 public:
  void offer(int64_t v) {
    if (v > v_.load(std::memory_order_relaxed)) v_.store(v, std::memory_order_relaxed);
  }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

enum class Phase : int { Connecting, Open, Publishing, Stopping };

// What all workers read. The runner writes the plain fields before it starts the workers,
// and the atomics between phases.
struct Shared {
  Options opts;
  UrlTemplate sse;
  UrlTemplate pub;
  TextTemplate pub_body;
  TextTemplate pub_batch_user;
  std::string pub_extra_headers;  // "K: V\r\n" lines, ready to append
  // The same headers for HTTP/2: lower-case names, values without the leading blanks.
  std::vector<std::pair<std::string, std::string>> pub_h2_headers;
  std::vector<sockaddr_in> sources;
  uint64_t run_id = 0;

  std::atomic<Phase> phase{Phase::Connecting};
  std::atomic<bool> give_up_connecting{false};
  std::atomic<uint64_t> next_seq{0};
  std::atomic<int64_t> publish_start_ns{0};
  std::atomic<int64_t> publish_end_ns{0};
  // Streams open per user (index: user - user_offset): how many deliveries a message to
  // that user is expected to make.
  std::unique_ptr<std::atomic<uint32_t>[]> open_per_user;
  // --slow-log, opened by the runner (stdio locks each line: workers share it); null: off.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> slow_log{nullptr, &std::fclose};
  uint64_t slow_ns = 0;
};

// One worker's results. Counters may be read while it runs; histograms only after join.
struct WorkerStats {
  Counter established;
  Counter connect_errors;
  Counter status_errors;
  Counter protocol_errors;
  Counter closed;    // by the server after the stream was open
  Counter timeouts;  // not open by the connect deadline
  Counter events;
  Counter matched;    // events of this run
  Counter foreign;    // events without this run's id (e.g. history of an earlier run)
  Counter misrouted;  // events of this run for another user than the stream's
  Counter published;
  Counter publish_errors;
  Counter publish_unanswered;  // requests still in flight when the run ended
  Counter expected;
  MaxValue last_established_ns;
  MaxValue last_matched_ns;
  MaxValue last_published_ns;
  Histogram latency_ns;
  Histogram connect_ns;
  Histogram publish_rtt_ns;
  int first_status_error = 0;
};

// One thread's share of the streams and publisher connections, driven by its own epoll.
class Worker {
 public:
  Worker(Shared& shared, uint32_t id, uint32_t threads, uint32_t publishers);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();
  void wake();  // after the runner changed a phase flag
  const WorkerStats& stats() const { return stats_; }
  bool publishing_done() const { return publishing_done_.load(std::memory_order_acquire); }
  uint32_t stream_count() const { return uint32_t(streams_.size()); }

 private:
  enum class StreamState : uint8_t { Pending, Connecting, Sending, ReadingHead, Open, Closed };
  enum class PubState : uint8_t {
    Disconnected,
    Connecting,
    Idle,
    Waiting,
    Sending,
    AwaitingResponse,
    Finished
  };

  struct Stream {
    int fd = -1;  // HTTP/1.1 only; over HTTP/2 its connection has it
    StreamState state = StreamState::Pending;
    bool chunked = false;
    uint16_t request_sent = 0;
    uint16_t h2_status = 0;
    int32_t h2_id = 0;  // HTTP/2 stream id while the stream has one
    uint32_t conn = 0;  // HTTP/2: slot of its connection in h2_conns_
    uint32_t index = 0;
    uint64_t user = 0;
    int64_t started_ns = 0;
    std::unique_ptr<ResponseHead> head;  // only while the handshake runs
    ChunkedDecoder chunk;
    SseParser sse;
  };

  struct Publisher {
    int fd = -1;
    PubState state = PubState::Disconnected;
    bool has_seq = false;
    bool head_done = false;
    uint64_t seq = 0;
    uint64_t user = 0;
    std::vector<uint64_t> batch_users;  // with --pub-batch: the user of each message
    uint64_t rng = 0;
    uint64_t body_left = 0;
    int64_t due_ns = 0;
    int64_t sent_ns = 0;
    int64_t retry_ns = 0;
    size_t sent = 0;
    std::string request;
    ResponseHead head;
    ChunkedDecoder chunk;
    // HTTP/2: one request in flight at a time on the publisher's own connection.
    H2Client h2;
    H2Client::Body h2_body;  // p.request is the body
    int h2_status = 0;
    bool h2_unsent = false;  // submitted, not flushed yet
    bool h2_broken = false;  // to be dropped once outside nghttp2's callbacks
  };

  // An HTTP/2 connection carrying the streams first .. first+count-1 of streams_.
  struct H2Conn {
    int fd = -1;
    bool connecting = false;
    uint32_t first = 0;
    uint32_t count = 0;
    H2Client client;
  };

  // nghttp2's events, routed to the worker's stream or publisher code.
  class StreamEvents final : public H2Client::Handler {
   public:
    explicit StreamEvents(Worker& w) : w_(w) {}
    void on_status(void* request, int status) override;
    void on_response_head(void* request) override;
    void on_data(void* request, const char* data, size_t len) override;
    void on_close(void* request, uint32_t error_code) override;

   private:
    Worker& w_;
  };
  class PublisherEvents final : public H2Client::Handler {
   public:
    explicit PublisherEvents(Worker& w) : w_(w) {}
    void on_status(void* request, int status) override;
    void on_response_head(void*) override {}
    void on_data(void*, const char*, size_t) override {}
    void on_close(void* request, uint32_t error_code) override;

   private:
    Worker& w_;
  };

  void start_connects(int64_t now);
  void start_stream(Stream& s, int64_t now);
  void abandon_unopened();
  void on_stream_event(Stream& s, uint32_t events);
  void send_stream_request(Stream& s);
  void read_stream(Stream& s, uint32_t events);
  bool on_stream_bytes(Stream& s, const char* data, size_t len, int64_t now);
  void stream_opened(Stream& s, int64_t now);
  void count_event(const Stream& s, const SseEvent& ev, int64_t now);
  void close_stream(Stream& s, Counter& reason);

  void start_h2_conn(H2Conn& c, int64_t now);
  void h2_conn_ready(H2Conn& c);
  void on_h2_conn_event(H2Conn& c, uint32_t events);
  void h2_conn_lost(H2Conn& c);
  void flush_h2_conns();
  void on_h2_publisher_event(Publisher& p, uint32_t events);
  bool finish_connect(Publisher& p, uint32_t events, int64_t now);
  void send_h2_publish(Publisher& p);
  void flush_h2_publisher(Publisher& p, int64_t now);

  void service_publishers(int64_t now);
  void connect_publisher(Publisher& p, int64_t now);
  void next_publish(Publisher& p, int64_t now);
  void send_publish(Publisher& p, int64_t now);
  void write_publish(Publisher& p);
  void on_publisher_event(Publisher& p, uint32_t events);
  void read_publisher(Publisher& p, uint32_t events);
  bool on_response_bytes(Publisher& p, const char* data, size_t len, int64_t now);
  void finish_publish(Publisher& p, int64_t now, int status, bool keep_alive);
  void drop_publisher(Publisher& p, int64_t now, bool failed);
  void update_publishing_done();
  int64_t next_timer_ns(int64_t now, Phase phase) const;

  Shared& shared_;
  uint32_t id_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  uint32_t concurrency_;
  uint32_t in_flight_ = 0;
  size_t next_pending_ = 0;
  bool abandoned_ = false;
  std::vector<Stream> streams_;
  std::vector<Publisher> publishers_;
  std::vector<H2Conn> h2_conns_;
  size_t next_h2_conn_ = 0;
  StreamEvents stream_events_{*this};
  PublisherEvents publisher_events_{*this};
  int64_t io_now_ = 0;  // when the bytes nghttp2 is handing over were read
  std::vector<nghttp2_nv> h2_headers_;
  std::vector<char> read_buf_;
  std::string scratch_;
  std::string body_scratch_;
  std::atomic<bool> publishing_done_{false};
  WorkerStats stats_;
};

}  // namespace loadgen
