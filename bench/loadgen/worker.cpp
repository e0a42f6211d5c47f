#include "worker.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace loadgen {

int64_t steady_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

constexpr uint64_t kStreamTag = 1;
constexpr uint64_t kPublisherTag = 2;
constexpr uint64_t kWakeTag = 3;
constexpr uint64_t kH2ConnTag = 4;
constexpr int kMaxEvents = 512;
constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr int64_t kIdleTickNs = 50'000'000;
constexpr int64_t kReconnectDelayNs = 100'000'000;

uint64_t tag(uint64_t kind, uint32_t slot) {
  return (kind << 32) | slot;
}

uint64_t xorshift(uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// A non-blocking TCP socket connecting to ipv4:port, bound first to source if given.
// Returns the fd, or -errno; *connected tells whether it connected at once.
int open_connection(uint32_t ipv4, uint16_t port, const sockaddr_in* source, bool no_delay,
                    bool* connected) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (no_delay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != nullptr) {
    // Pick the source port at connect() time, per destination, so every source address
    // has the whole ephemeral range for this server.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(source), sizeof *source) != 0) {
      int e = errno;
      close(fd);
      return -e;
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = ipv4;
  *connected = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0) {
    *connected = true;
  } else if (errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void append_number(std::string& out, uint64_t v) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, r.ptr);
}

// A header for nghttp2, which copies it when the request is submitted.
nghttp2_nv header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

bool hangup(uint32_t events) {
  return (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
}

}  // namespace

Worker::Worker(Shared& shared, uint32_t id, uint32_t threads, uint32_t publishers)
    : shared_(shared), id_(id), read_buf_(kReadBufferBytes) {
  const Options& o = shared_.opts;
  concurrency_ = o.connect_concurrency / threads + (id < o.connect_concurrency % threads ? 1 : 0);
  if (concurrency_ == 0) concurrency_ = 1;

  size_t mine = o.streams / threads + (id < o.streams % threads ? 1 : 0);
  streams_ = std::vector<Stream>(mine);
  for (size_t k = 0; k < mine; ++k) {
    Stream& s = streams_[k];
    s.index = uint32_t(k * threads + id);
    s.user = o.user_offset + s.index % o.users;
  }
  if (o.http2) {
    // The worker's streams in runs of --streams-per-connection, one connection each.
    const uint32_t per = o.streams_per_connection;
    h2_conns_ = std::vector<H2Conn>((mine + per - 1) / per);
    for (size_t c = 0; c < h2_conns_.size(); ++c) {
      h2_conns_[c].first = uint32_t(c * per);
      h2_conns_[c].count = uint32_t(std::min<size_t>(per, mine - c * per));
      for (uint32_t k = 0; k < h2_conns_[c].count; ++k) streams_[c * per + k].conn = uint32_t(c);
    }
    h2_headers_.reserve(16 + o.pub_headers.size());
  }
  publishers_ = std::vector<Publisher>(publishers);
  for (size_t k = 0; k < publishers_.size(); ++k) {
    Publisher& p = publishers_[k];
    p.rng = (shared_.run_id ^ (uint64_t(id) << 40) ^ (k + 1) * 0x9E3779B97F4A7C15ull) | 1;
    p.request.reserve(512 + shared_.pub_body.max_size() + shared_.pub.target.max_size());
  }
  if (publishers_.empty()) publishing_done_.store(true);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kWakeTag, 0);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

Worker::~Worker() {
  for (Stream& s : streams_) {
    if (s.fd >= 0) close(s.fd);
  }
  for (H2Conn& c : h2_conns_) {
    c.client.stop();
    if (c.fd >= 0) close(c.fd);
  }
  for (Publisher& p : publishers_) {
    p.h2.stop();
    if (p.fd >= 0) close(p.fd);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void Worker::run() {
  epoll_event events[kMaxEvents];
  for (;;) {
    Phase phase = shared_.phase.load(std::memory_order_acquire);
    if (phase == Phase::Stopping) break;
    int64_t now = steady_ns();
    if (shared_.give_up_connecting.load(std::memory_order_acquire)) {
      abandon_unopened();
    } else {
      start_connects(now);
    }
    if (phase == Phase::Publishing) service_publishers(now);

    int64_t wait_ns = next_timer_ns(now, phase) - now;
    if (wait_ns < 0) wait_ns = 0;
    timespec timeout{wait_ns / 1'000'000'000, wait_ns % 1'000'000'000};
    int n = epoll_pwait2(epoll_fd_, events, kMaxEvents, &timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "epoll_pwait2");
    }
    for (int i = 0; i < n; ++i) {
      uint64_t kind = events[i].data.u64 >> 32;
      uint32_t slot = uint32_t(events[i].data.u64);
      if (kind == kStreamTag) {
        on_stream_event(streams_[slot], events[i].events);
      } else if (kind == kH2ConnTag) {
        on_h2_conn_event(h2_conns_[slot], events[i].events);
      } else if (kind == kPublisherTag) {
        on_publisher_event(publishers_[slot], events[i].events);
      } else {
        uint64_t drained;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &drained, sizeof drained);
      }
    }
  }
  for (Publisher& p : publishers_) {
    if (p.state == PubState::Sending || p.state == PubState::AwaitingResponse)
      stats_.publish_unanswered.add();
  }
}

int64_t Worker::next_timer_ns(int64_t now, Phase phase) const {
  int64_t next = now + kIdleTickNs;
  if (phase != Phase::Publishing) return next;
  for (const Publisher& p : publishers_) {
    if (p.state == PubState::Waiting && p.due_ns < next) next = p.due_ns;
    if (p.state == PubState::Disconnected && p.retry_ns < next) next = p.retry_ns;
  }
  return next;
}

// ---- streams ---------------------------------------------------------------------------

void Worker::start_connects(int64_t now) {
  if (shared_.opts.http2) {
    while (in_flight_ < concurrency_ && next_h2_conn_ < h2_conns_.size())
      start_h2_conn(h2_conns_[next_h2_conn_++], now);
    return;
  }
  while (in_flight_ < concurrency_ && next_pending_ < streams_.size()) {
    start_stream(streams_[next_pending_++], now);
  }
}

void Worker::start_stream(Stream& s, int64_t now) {
  const sockaddr_in* source = nullptr;
  if (!shared_.sources.empty()) source = &shared_.sources[s.index % shared_.sources.size()];
  bool connected = false;
  int fd = open_connection(shared_.sse.ipv4, shared_.sse.port, source, false, &connected);
  s.started_ns = now;
  if (fd < 0) {
    s.state = StreamState::Closed;
    stats_.connect_errors.add();
    return;
  }
  s.fd = fd;
  s.state = StreamState::Connecting;
  s.head = std::make_unique<ResponseHead>();
  ++in_flight_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag(kStreamTag, uint32_t(&s - streams_.data()));
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close_stream(s, stats_.connect_errors);
    return;
  }
  if (connected) {
    s.state = StreamState::Sending;
    send_stream_request(s);
  }
}

void Worker::abandon_unopened() {
  if (abandoned_) return;
  abandoned_ = true;
  for (Stream& s : streams_) {
    if (s.state == StreamState::Pending) {
      s.state = StreamState::Closed;
      stats_.timeouts.add();
    } else if (s.state != StreamState::Open && s.state != StreamState::Closed) {
      close_stream(s, stats_.timeouts);
    }
  }
  next_pending_ = streams_.size();
  next_h2_conn_ = h2_conns_.size();
  flush_h2_conns();  // the resets
}

void Worker::close_stream(Stream& s, Counter& reason) {
  reason.add();
  if (s.state == StreamState::Open) {
    shared_.open_per_user[s.user - shared_.opts.user_offset].fetch_sub(1,
                                                                       std::memory_order_relaxed);
  } else if (s.state != StreamState::Pending && s.state != StreamState::Closed) {
    --in_flight_;
  }
  if (s.fd >= 0) close(s.fd);  // also leaves the epoll set
  s.fd = -1;
  if (s.h2_id > 0) {
    // Still open on its connection: cancel it there (flushed by the caller).
    H2Client& client = h2_conns_[s.conn].client;
    if (client.active()) client.reset(s.h2_id);
    s.h2_id = 0;
  }
  s.state = StreamState::Closed;
  s.head.reset();
}

void Worker::on_stream_event(Stream& s, uint32_t events) {
  if (s.state == StreamState::Closed) return;
  if (s.state == StreamState::Connecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    if (socket_error(s.fd) != 0 || (events & EPOLLHUP)) {
      close_stream(s, stats_.connect_errors);
      return;
    }
    s.state = StreamState::Sending;
  }
  if (s.state == StreamState::Sending && (events & (EPOLLOUT | EPOLLERR))) send_stream_request(s);
  if (s.state == StreamState::Closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_stream(s, events);
}

void Worker::send_stream_request(Stream& s) {
  scratch_.clear();
  scratch_.append("GET ");
  shared_.sse.target.expand_into(scratch_, TemplateValues{s.user, 0, shared_.run_id, s.index});
  scratch_.append(" HTTP/1.1\r\nHost: ");
  scratch_.append(shared_.sse.host_header);
  scratch_.append(
      "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: "
      "ssehub-loadgen\r\n\r\n");
  while (s.request_sent < scratch_.size()) {
    ssize_t n = send(s.fd, scratch_.data() + s.request_sent, scratch_.size() - s.request_sent,
                     MSG_NOSIGNAL);
    if (n > 0) {
      s.request_sent = uint16_t(s.request_sent + n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;  // EPOLLOUT will call again
    } else {
      close_stream(s, stats_.connect_errors);
      return;
    }
  }
  s.state = StreamState::ReadingHead;
}

void Worker::read_stream(Stream& s, uint32_t events) {
  for (;;) {
    ssize_t n = recv(s.fd, read_buf_.data(), read_buf_.size(), 0);
    if (n > 0) {
      if (!on_stream_bytes(s, read_buf_.data(), size_t(n), steady_ns())) return;
      // A short read emptied the socket; a later arrival raises a new edge. Only a peer
      // close needs the extra recv to be seen.
      if (size_t(n) < read_buf_.size() && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    } else if (n == 0) {
      close_stream(s, s.state == StreamState::Open ? stats_.closed : stats_.connect_errors);
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return;
    } else {
      close_stream(s, s.state == StreamState::Open ? stats_.closed : stats_.connect_errors);
      return;
    }
  }
}

bool Worker::on_stream_bytes(Stream& s, const char* data, size_t len, int64_t now) {
  if (s.state == StreamState::ReadingHead || s.state == StreamState::Sending) {
    ResponseHead::Result r = s.head->feed(data, len);
    if (r.status == ResponseHead::Status::NeedMore) return true;
    if (r.status == ResponseHead::Status::Error) {
      close_stream(s, stats_.protocol_errors);
      return false;
    }
    if (s.head->status_code() != 200 || s.head->framing() == BodyFraming::None) {
      if (stats_.first_status_error == 0) stats_.first_status_error = s.head->status_code();
      close_stream(s, stats_.status_errors);
      return false;
    }
    s.chunked = s.head->framing() == BodyFraming::Chunked;
    s.head.reset();
    stream_opened(s, now);
    data += r.consumed;
    len -= r.consumed;
    if (len == 0) return true;
  }

  auto on_event = [&](const SseEvent& ev) { count_event(s, ev, now); };
  if (!s.chunked) {
    s.sse.feed(data, len, on_event);
    return true;
  }
  ChunkedDecoder::Result r =
      s.chunk.feed(data, len, [&](const char* p, size_t n) { s.sse.feed(p, n, on_event); });
  if (r.status == ChunkedDecoder::Status::Error) {
    close_stream(s, stats_.protocol_errors);
    return false;
  }
  if (r.status == ChunkedDecoder::Status::End) {
    close_stream(s, stats_.closed);
    return false;
  }
  return true;
}

void Worker::stream_opened(Stream& s, int64_t now) {
  s.state = StreamState::Open;
  --in_flight_;
  shared_.open_per_user[s.user - shared_.opts.user_offset].fetch_add(1, std::memory_order_relaxed);
  stats_.established.add();
  stats_.connect_ns.record(uint64_t(now - s.started_ns));
  stats_.last_established_ns.offer(now);
}

void Worker::count_event(const Stream& s, const SseEvent& ev, int64_t now) {
  stats_.events.add();
  if (!ev.has_run || ev.run != shared_.run_id) {
    stats_.foreign.add();
    return;
  }
  stats_.matched.add();
  if (ev.has_time && uint64_t(now) >= ev.sent_ns) {
    const uint64_t latency = uint64_t(now) - ev.sent_ns;
    stats_.latency_ns.record(latency);
    if (shared_.slow_log && latency > shared_.slow_ns)
      std::fprintf(shared_.slow_log.get(), "%llu %llu\n", (unsigned long long)ev.sent_ns,
                   (unsigned long long)latency);
  }
  if (ev.has_user && ev.user != s.user) stats_.misrouted.add();
  stats_.last_matched_ns.offer(now);
}

// ---- streams over HTTP/2 ---------------------------------------------------------------

void Worker::start_h2_conn(H2Conn& c, int64_t now) {
  Stream* first = &streams_[c.first];
  const sockaddr_in* source = nullptr;
  if (!shared_.sources.empty()) source = &shared_.sources[first->index % shared_.sources.size()];
  bool connected = false;
  int fd = open_connection(shared_.sse.ipv4, shared_.sse.port, source, true, &connected);
  for (uint32_t k = 0; k < c.count; ++k) {
    Stream& s = first[k];
    s.started_ns = now;
    if (fd < 0) {
      s.state = StreamState::Closed;
      stats_.connect_errors.add();
    } else {
      s.state = StreamState::Connecting;
      ++in_flight_;
    }
  }
  if (fd < 0) return;
  c.fd = fd;
  c.connecting = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag(kH2ConnTag, uint32_t(&c - h2_conns_.data()));
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    h2_conn_lost(c);
    return;
  }
  if (connected) h2_conn_ready(c);
}

// The TCP connection is up: the preface, then one GET per stream.
void Worker::h2_conn_ready(H2Conn& c) {
  c.connecting = false;
  c.client.start(c.fd, stream_events_);
  const UrlTemplate& url = shared_.sse;
  for (uint32_t k = 0; k < c.count; ++k) {
    Stream& s = streams_[c.first + k];
    if (s.state != StreamState::Connecting) continue;
    scratch_.clear();
    url.target.expand_into(scratch_, TemplateValues{s.user, 0, shared_.run_id, s.index});
    const nghttp2_nv headers[] = {
        header(":method", "GET"),
        header(":scheme", "http"),
        header(":authority", url.host_header),
        header(":path", scratch_),
        header("accept", "text/event-stream"),
        header("cache-control", "no-cache"),
        header("user-agent", "ssehub-loadgen"),
    };
    int32_t id = c.client.submit(headers, std::size(headers), nullptr, &s);
    if (id < 0) {
      close_stream(s, stats_.connect_errors);
      continue;
    }
    s.h2_id = id;
    s.state = StreamState::ReadingHead;
  }
  if (!c.client.flush()) h2_conn_lost(c);
}

void Worker::on_h2_conn_event(H2Conn& c, uint32_t events) {
  if (c.fd < 0) return;
  if (c.connecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    if (socket_error(c.fd) != 0 || (events & EPOLLHUP)) {
      h2_conn_lost(c);
      return;
    }
    h2_conn_ready(c);
    if (c.fd < 0) return;
  }
  io_now_ = steady_ns();
  bool alive = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                   ? c.client.on_io(read_buf_.data(), read_buf_.size(), hangup(events))
                   : c.client.flush();
  if (!alive) h2_conn_lost(c);
}

// The connection is over: its streams end as closed by the server (if they were open) or
// as failed connects.
void Worker::h2_conn_lost(H2Conn& c) {
  c.client.stop();
  for (uint32_t k = 0; k < c.count; ++k) {
    Stream& s = streams_[c.first + k];
    s.h2_id = 0;
    if (s.state == StreamState::Open) {
      close_stream(s, stats_.closed);
    } else if (s.state != StreamState::Pending && s.state != StreamState::Closed) {
      close_stream(s, stats_.connect_errors);
    }
  }
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.connecting = false;
}

void Worker::flush_h2_conns() {
  for (H2Conn& c : h2_conns_) {
    if (c.fd >= 0 && !c.connecting && !c.client.flush()) h2_conn_lost(c);
  }
}

void Worker::StreamEvents::on_status(void* request, int status) {
  static_cast<Stream*>(request)->h2_status = uint16_t(status);
}

void Worker::StreamEvents::on_response_head(void* request) {
  Stream& s = *static_cast<Stream*>(request);
  if (s.state != StreamState::ReadingHead) return;
  if (s.h2_status != 200) {
    if (w_.stats_.first_status_error == 0) w_.stats_.first_status_error = s.h2_status;
    w_.close_stream(s, w_.stats_.status_errors);
    return;
  }
  w_.stream_opened(s, w_.io_now_);
}

void Worker::StreamEvents::on_data(void* request, const char* data, size_t len) {
  Stream& s = *static_cast<Stream*>(request);
  if (s.state != StreamState::Open) return;
  const int64_t now = w_.io_now_;
  s.sse.feed(data, len, [&](const SseEvent& ev) { w_.count_event(s, ev, now); });
}

void Worker::StreamEvents::on_close(void* request, uint32_t) {
  Stream& s = *static_cast<Stream*>(request);
  s.h2_id = 0;  // gone from the session: nothing to reset
  if (s.state == StreamState::Open) {
    w_.close_stream(s, w_.stats_.closed);
  } else if (s.state != StreamState::Closed) {
    w_.close_stream(s, w_.stats_.connect_errors);  // e.g. refused over the stream limit
  }
}

// ---- publishers ------------------------------------------------------------------------

void Worker::service_publishers(int64_t now) {
  for (Publisher& p : publishers_) {
    switch (p.state) {
      case PubState::Disconnected:
        if (p.retry_ns <= now) connect_publisher(p, now);
        break;
      case PubState::Idle: next_publish(p, now); break;
      case PubState::Waiting:
        if (p.due_ns <= now) send_publish(p, now);
        break;
      default: break;
    }
    if (p.h2_unsent) flush_h2_publisher(p, now);
  }
  update_publishing_done();
}

void Worker::connect_publisher(Publisher& p, int64_t now) {
  if (now >= shared_.publish_end_ns.load(std::memory_order_relaxed)) {
    p.state = PubState::Finished;
    return;
  }
  bool connected = false;
  int fd = open_connection(shared_.pub.ipv4, shared_.pub.port, nullptr, true, &connected);
  if (fd < 0) {
    stats_.publish_errors.add();
    p.retry_ns = now + kReconnectDelayNs;
    return;
  }
  p.fd = fd;
  p.state = PubState::Connecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag(kPublisherTag, uint32_t(&p - publishers_.data()));
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  if (connected) {
    p.state = PubState::Idle;
    if (shared_.opts.http2) p.h2.start(p.fd, publisher_events_);
    next_publish(p, now);
  }
}

void Worker::next_publish(Publisher& p, int64_t now) {
  if (shared_.phase.load(std::memory_order_relaxed) != Phase::Publishing) return;
  int64_t end = shared_.publish_end_ns.load(std::memory_order_relaxed);
  if (!p.has_seq) {
    if (now >= end) {
      p.state = PubState::Finished;
      return;
    }
    uint64_t seq = shared_.next_seq.fetch_add(1, std::memory_order_relaxed);
    const Options& o = shared_.opts;
    if (o.pub_count != 0 && seq >= o.pub_count) {
      p.state = PubState::Finished;
      return;
    }
    p.seq = seq;
    p.has_seq = true;
    p.user = o.pub_user >= 0 ? uint64_t(o.pub_user) : o.user_offset + xorshift(p.rng) % o.users;
    int64_t start = shared_.publish_start_ns.load(std::memory_order_relaxed);
    p.due_ns = o.pub_rate > 0 ? start + int64_t(double(seq) * 1e9 / o.pub_rate) : now;
    if (p.due_ns >= end) {
      p.has_seq = false;
      p.state = PubState::Finished;
      return;
    }
  }
  if (p.due_ns > now) {
    p.state = PubState::Waiting;
    return;
  }
  send_publish(p, now);
}

void Worker::send_publish(Publisher& p, int64_t now) {
  TemplateValues values{p.user, uint64_t(now), shared_.run_id, p.seq};
  body_scratch_.clear();
  const Options& o = shared_.opts;
  if (o.pub_batch == 0) {
    shared_.pub_body.expand_into(body_scratch_, values);
  } else {
    // Templates are plain text without quotes or backslashes, so they need no JSON escaping.
    p.batch_users.clear();
    body_scratch_.push_back('[');
    for (uint32_t i = 0; i < o.pub_batch; ++i) {
      TemplateValues message = values;
      message.user = o.user_offset + xorshift(p.rng) % o.users;
      p.batch_users.push_back(message.user);
      if (i > 0) body_scratch_.push_back(',');
      body_scratch_.append("{\"username\":\"");
      shared_.pub_batch_user.expand_into(body_scratch_, message);
      body_scratch_.append("\",\"message\":\"");
      shared_.pub_body.expand_into(body_scratch_, message);
      body_scratch_.append("\"}");
    }
    body_scratch_.push_back(']');
  }
  p.sent_ns = now;
  if (shared_.opts.http2) {
    send_h2_publish(p);
    return;
  }
  std::string& r = p.request;
  r.clear();
  r.append("POST ");
  shared_.pub.target.expand_into(r, values);
  r.append(" HTTP/1.1\r\nHost: ");
  r.append(shared_.pub.host_header);
  r.append("\r\nContent-Length: ");
  append_number(r, body_scratch_.size());
  r.append("\r\n");
  r.append(shared_.pub_extra_headers);
  r.append("\r\n");
  r.append(body_scratch_);
  p.sent = 0;
  p.state = PubState::Sending;
  p.head.reset();
  p.head_done = false;
  write_publish(p);
}

void Worker::write_publish(Publisher& p) {
  while (p.sent < p.request.size()) {
    ssize_t n = send(p.fd, p.request.data() + p.sent, p.request.size() - p.sent, MSG_NOSIGNAL);
    if (n > 0) {
      p.sent += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      drop_publisher(p, steady_ns(), true);
      return;
    }
  }
  p.state = PubState::AwaitingResponse;
}

void Worker::on_publisher_event(Publisher& p, uint32_t events) {
  if (p.fd < 0) return;
  if (shared_.opts.http2) {
    on_h2_publisher_event(p, events);
    return;
  }
  int64_t now = steady_ns();
  if (p.state == PubState::Connecting) {
    if (!finish_connect(p, events, now)) return;
    next_publish(p, now);
    update_publishing_done();
    if (p.fd < 0) return;
  }
  if (p.state == PubState::Sending && (events & EPOLLOUT)) write_publish(p);
  if (p.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
    read_publisher(p, events);
}

void Worker::read_publisher(Publisher& p, uint32_t events) {
  for (;;) {
    ssize_t n = recv(p.fd, read_buf_.data(), read_buf_.size(), 0);
    int64_t now = steady_ns();
    if (n > 0) {
      if (p.state == PubState::AwaitingResponse &&
          !on_response_bytes(p, read_buf_.data(), size_t(n), now)) {
        return;
      }
      if (size_t(n) < read_buf_.size() && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    } else if (n == 0) {
      bool in_flight = p.state == PubState::Sending || p.state == PubState::AwaitingResponse;
      if (p.state == PubState::AwaitingResponse && p.head_done &&
          p.head.framing() == BodyFraming::UntilClose) {
        finish_publish(p, now, p.head.status_code(), p.head.keep_alive());
        in_flight = false;
      }
      drop_publisher(p, now, in_flight);
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return;
    } else {
      drop_publisher(p, now, p.state == PubState::Sending || p.state == PubState::AwaitingResponse);
      return;
    }
  }
}

bool Worker::on_response_bytes(Publisher& p, const char* data, size_t len, int64_t now) {
  if (!p.head_done) {
    ResponseHead::Result r = p.head.feed(data, len);
    if (r.status == ResponseHead::Status::NeedMore) return true;
    if (r.status == ResponseHead::Status::Error) {
      stats_.protocol_errors.add();
      drop_publisher(p, now, true);
      return false;
    }
    p.head_done = true;
    data += r.consumed;
    len -= r.consumed;
    p.body_left = p.head.content_length();
    p.chunk.reset();
    if (p.head.framing() == BodyFraming::None) {
      finish_publish(p, now, p.head.status_code(), p.head.keep_alive());
      return p.fd >= 0;
    }
  }
  switch (p.head.framing()) {
    case BodyFraming::Length:
      if (len >= p.body_left) {
        finish_publish(p, now, p.head.status_code(), p.head.keep_alive());
        return p.fd >= 0;
      }
      p.body_left -= len;
      return true;
    case BodyFraming::Chunked: {
      ChunkedDecoder::Result r = p.chunk.feed(data, len, [](const char*, size_t) {});
      if (r.status == ChunkedDecoder::Status::Error) {
        stats_.protocol_errors.add();
        drop_publisher(p, now, true);
        return false;
      }
      if (r.status == ChunkedDecoder::Status::End) {
        finish_publish(p, now, p.head.status_code(), p.head.keep_alive());
        return p.fd >= 0;
      }
      return true;
    }
    case BodyFraming::UntilClose:
    case BodyFraming::None: return true;
  }
  return true;
}

void Worker::finish_publish(Publisher& p, int64_t now, int code, bool keep_alive) {
  if (code >= 200 && code < 300) {
    auto expect_for = [&](uint64_t user) {
      uint64_t slot = user - shared_.opts.user_offset;
      if (user >= shared_.opts.user_offset && slot < shared_.opts.users)
        stats_.expected.add(shared_.open_per_user[slot].load(std::memory_order_relaxed));
    };
    if (shared_.opts.pub_batch == 0) {
      stats_.published.add();
      expect_for(p.user);
    } else {
      stats_.published.add(p.batch_users.size());
      for (uint64_t user : p.batch_users) expect_for(user);
    }
  } else {
    if (stats_.first_status_error == 0) stats_.first_status_error = code;
    stats_.publish_errors.add();
  }
  stats_.publish_rtt_ns.record(uint64_t(now - p.sent_ns));
  stats_.last_published_ns.offer(now);
  p.has_seq = false;
  p.state = PubState::Idle;
  if (!keep_alive) {
    drop_publisher(p, now, false);
    return;
  }
  next_publish(p, now);
  update_publishing_done();
}

void Worker::drop_publisher(Publisher& p, int64_t now, bool failed) {
  if (failed) {
    stats_.publish_errors.add();
    p.has_seq = false;  // not retried: the server may have taken it
  }
  p.h2.stop();
  p.h2_unsent = false;
  p.h2_broken = false;
  if (p.fd >= 0) close(p.fd);
  p.fd = -1;
  p.state = PubState::Disconnected;
  p.retry_ns = failed ? now + kReconnectDelayNs : now;
}

void Worker::update_publishing_done() {
  for (const Publisher& p : publishers_) {
    if (p.state != PubState::Finished) return;
  }
  publishing_done_.store(true, std::memory_order_release);
}

// ---- publishers over HTTP/2 ------------------------------------------------------------

// Queues the POST of the body in body_scratch_; it is written by the next flush (this may run
// inside nghttp2's callbacks, which must not send).
void Worker::send_h2_publish(Publisher& p) {
  p.request.assign(body_scratch_);
  TemplateValues values{p.user, uint64_t(p.sent_ns), shared_.run_id, p.seq};
  scratch_.clear();
  shared_.pub.target.expand_into(scratch_, values);
  char length[24];
  auto end = std::to_chars(length, length + sizeof length, p.request.size()).ptr;
  h2_headers_.clear();
  h2_headers_.push_back(header(":method", "POST"));
  h2_headers_.push_back(header(":scheme", "http"));
  h2_headers_.push_back(header(":authority", shared_.pub.host_header));
  h2_headers_.push_back(header(":path", scratch_));
  h2_headers_.push_back(header("content-length", std::string_view(length, size_t(end - length))));
  for (const auto& [name, value] : shared_.pub_h2_headers)
    h2_headers_.push_back(header(name, value));
  p.h2_body.text = &p.request;
  p.h2_status = 0;
  p.state = PubState::AwaitingResponse;
  if (p.h2.submit(h2_headers_.data(), h2_headers_.size(), &p.h2_body, &p) < 0) {
    stats_.publish_errors.add();
    p.has_seq = false;
    p.h2_broken = true;
    return;
  }
  p.h2_unsent = true;
}

void Worker::flush_h2_publisher(Publisher& p, int64_t now) {
  p.h2_unsent = false;
  if (p.h2_broken || !p.h2.flush())
    drop_publisher(p, now, !p.h2_broken && p.state == PubState::AwaitingResponse);
}

// A publisher's non-blocking connect: false while it is pending or when it failed (counted,
// the publisher dropped and retried later); true once connected (the publisher is idle).
bool Worker::finish_connect(Publisher& p, uint32_t events, int64_t now) {
  if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return false;
  if (socket_error(p.fd) != 0 || (events & EPOLLHUP)) {
    stats_.publish_errors.add();
    drop_publisher(p, now, false);
    p.retry_ns = now + kReconnectDelayNs;
    return false;
  }
  p.state = PubState::Idle;
  return true;
}

void Worker::on_h2_publisher_event(Publisher& p, uint32_t events) {
  int64_t now = steady_ns();
  if (p.state == PubState::Connecting) {
    if (!finish_connect(p, events, now)) return;
    p.h2.start(p.fd, publisher_events_);
    next_publish(p, now);
    update_publishing_done();
    if (p.fd < 0) return;
  }
  io_now_ = now;
  bool alive = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                   ? p.h2.on_io(read_buf_.data(), read_buf_.size(), hangup(events))
                   : p.h2.flush();
  p.h2_unsent = false;
  if (p.h2_broken || !alive) {
    drop_publisher(p, steady_ns(), !p.h2_broken && p.state == PubState::AwaitingResponse);
  }
  update_publishing_done();
}

void Worker::PublisherEvents::on_status(void* request, int status) {
  static_cast<Publisher*>(request)->h2_status = status;
}

// The response is complete (or the stream was reset): the next message goes out on the same
// connection.
void Worker::PublisherEvents::on_close(void* request, uint32_t error_code) {
  Publisher& p = *static_cast<Publisher*>(request);
  if (p.state != PubState::AwaitingResponse) return;
  if (error_code == NGHTTP2_NO_ERROR && p.h2_status != 0) {
    w_.finish_publish(p, w_.io_now_, p.h2_status, true);
    return;
  }
  w_.stats_.publish_errors.add();
  p.has_seq = false;
  p.state = PubState::Idle;
  w_.next_publish(p, w_.io_now_);
}

}  // namespace loadgen
