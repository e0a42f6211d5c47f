#include "sse/stream_session.hpp"

#include "http/stream_connection.hpp"
#include "sse/tls_stream_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

namespace ssehub::sse {

namespace {

using boost::asio::ip::tcp;

// A stream over plain TCP: only the socket, so an idle stream costs as little as it can.
class PlainStreamSession final : public StreamSession {
 public:
  PlainStreamSession(boost::asio::any_io_executor executor, hub::Hub& hub, StreamMetrics& metrics,
                     const StreamSettings& settings, unsigned thread, std::string stream)
      : StreamSession(hub, metrics, settings, thread, std::move(stream)),
        socket_(std::move(executor)) {}  // the connection arrives in adopt()

 private:
  void adopt(http::StreamConnection connection) override {
    socket_ = std::get<tcp::socket>(std::move(connection.transport));
    boost::system::error_code ignored;
    if (!socket_.non_blocking()) socket_.non_blocking(true, ignored);  // for write()
  }

  boost::asio::any_io_executor executor() override { return socket_.get_executor(); }

  void write(std::vector<boost::asio::const_buffer> buffers) override {
    // A client that keeps up has room in its socket buffer: the frames are written at once,
    // with no completion handler and no extra pass of the event loop. What the socket does
    // not take is written asynchronously, and an error is left for that write to report.
    // A write made from inside a completion (a replay's next page) completes from a handler
    // of its own, so that a long replay does not nest one call per page.
    boost::system::error_code ec;
    std::size_t written = socket_.write_some(buffers, ec);
    if (ec) written = 0;
    if (written == boost::asio::buffer_size(buffers)) {
      if (completing_) {
        boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
          static_cast<PlainStreamSession&>(*self).on_write({});
        });
        return;
      }
      const auto self = shared_from_this();  // on_write may end the stream
      completing_ = true;
      on_write({});
      completing_ = false;
      return;
    }
    boost::beast::buffers_suffix<std::vector<boost::asio::const_buffer>> rest(
        boost::in_place_init, std::move(buffers));
    rest.consume(written);
    boost::asio::async_write(socket_, std::move(rest),
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               static_cast<PlainStreamSession&>(*self).on_write(ec);
                             });
  }

  void watch_for_close() override {
    // A stream never reads requests again; waiting for readability without a buffer costs
    // no memory and tells us when the client goes away.
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      auto& session = static_cast<PlainStreamSession&>(*self);
      if (ec || session.closed()) return session.close();
      char scratch[512];
      boost::system::error_code read_ec;
      session.socket_.non_blocking(true, read_ec);
      const std::size_t n = session.socket_.read_some(boost::asio::buffer(scratch), read_ec);
      if (read_ec == boost::asio::error::would_block || (!read_ec && n > 0))
        return session.watch_for_close();
      session.close();
    });
  }

  void close_transport(bool) override {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  bool completing_ = false;  // inside on_write, called from write()
};

// A stream on one stream of an HTTP/2 connection: the connection frames what is written as
// DATA within the stream's flow-control window, and reports the client's RST_STREAM (or the
// connection's end) through watch(). A client whose window stays shut leaves the write in
// flight, so its queue fills and overflows like a slow HTTP/1.1 client's, while the other
// streams of its connection go on.
class Http2StreamSession final : public StreamSession {
 public:
  Http2StreamSession(boost::asio::any_io_executor executor, hub::Hub& hub, StreamMetrics& metrics,
                     const StreamSettings& settings, unsigned thread, std::string stream)
      : StreamSession(hub, metrics, settings, thread, std::move(stream)),
        executor_(std::move(executor)) {}

  void shutdown() override {
    // The server is stopping: no new streams on this connection (GOAWAY), then this one ends.
    if (stream_) stream_->go_away();
    StreamSession::shutdown();
  }

 private:
  void adopt(http::StreamConnection connection) override {
    stream_ = std::get<std::shared_ptr<http::Http2Stream>>(std::move(connection.transport));
  }

  boost::asio::any_io_executor executor() override { return executor_; }

  void write(std::vector<boost::asio::const_buffer> buffers) override {
    stream_->write(std::move(buffers), [self = shared_from_this()](boost::system::error_code ec) {
      static_cast<Http2StreamSession&>(*self).on_write(ec);
    });
  }

  void watch_for_close() override {
    // The watch holds the session, as a plain stream's wait for readability does: until the
    // stream ends or the session resets it.
    stream_->watch([self = shared_from_this()] { static_cast<Http2StreamSession&>(*self).close(); });
  }

  void close_transport(bool) override { stream_->reset(); }

  bool counts_as_connection() const override { return false; }
  http::Protocol protocol() const override { return http::Protocol::Http2; }

  boost::asio::any_io_executor executor_;
  std::shared_ptr<http::Http2Stream> stream_;
};

}  // namespace

std::shared_ptr<StreamSession> StreamSession::create(Transport transport,
                                                     boost::asio::any_io_executor executor,
                                                     hub::Hub& hub, StreamMetrics& metrics,
                                                     const StreamSettings& settings,
                                                     unsigned thread, std::string stream) {
  if (transport == Transport::Http2)
    return std::make_shared<Http2StreamSession>(std::move(executor), hub, metrics, settings, thread,
                                                std::move(stream));
  if (transport == Transport::Tls)
    return make_tls_stream_session(hub, metrics, settings, thread, std::move(stream));
  return std::make_shared<PlainStreamSession>(std::move(executor), hub, metrics, settings, thread,
                                              std::move(stream));
}

StreamMetrics::StreamMetrics(metrics::Registry& registry, metrics::Gauge& connections_open)
    : connections_open(connections_open),
      streams_open(registry.gauges("ssehub_streams_open", "SSE streams currently open, by protocol.",
                                   "protocol", http::protocol_label_values())),
      events_delivered(registry.counters("ssehub_events_delivered_total",
                                         "Event frames written to clients, by protocol.",
                                         "protocol", http::protocol_label_values())),
      resumes(registry.counters("ssehub_resumes_total",
                                "Streams resumed from a Last-Event-ID, by protocol.", "protocol",
                                http::protocol_label_values())),
      resets(registry.counters("ssehub_resets_total",
                               "Resumes that history could not serve (reset sent), by protocol.",
                               "protocol", http::protocol_label_values())),
      queue_overflows(registry.counters(
          "ssehub_queue_overflows_total",
          "Streams closed because their write queue was full, by protocol.", "protocol",
          http::protocol_label_values())),
      accept_to_write(registry.histogram(
          "ssehub_accept_to_write_seconds",
          "Time from accepting a publish to writing it to a client socket.")),
      tls_parks(registry.counters(
          "ssehub_tls_parks_total",
          "HTTP/1.1 SSE streams over TLS that tried to give up OpenSSL's state once their head "
          "was sent, by outcome (see README, TLS).",
          "outcome", {"parked", "unsupported", "pending", "mismatch", "failed"})),
      tls_parked(registry.gauge("ssehub_tls_parked_streams",
                                "Open SSE streams over TLS whose records ssehub seals itself (parked).")) {}

StreamSession::StreamSession(hub::Hub& hub, StreamMetrics& metrics, const StreamSettings& settings,
                             unsigned thread, std::string stream)
    : hub_(hub), metrics_(metrics), settings_(settings), stream_(std::move(stream)), thread_(thread) {}

StreamSession::~StreamSession() {
  if (state_ != State::Created && counted_as_connection_) metrics_.connections_open.add(-1);
}

hub::Hub::Admission StreamSession::attach() {
  const auto admission = hub_.attach(thread_, stream_, this);
  if (admission == hub::Hub::Admission::Admitted) {
    attached_ = true;
    metrics_.streams_open[protocol()].add(1);
  }
  return admission;
}

void StreamSession::start(http::StreamConnection connection, std::shared_ptr<void> client_slot,
                          std::string head, bool chunked, history::History* history,
                          std::optional<core::ResumePoint> resume) {
  adopt(std::move(connection));
  client_slot_ = std::move(client_slot);
  counted_as_connection_ = counts_as_connection();
  if (counted_as_connection_) metrics_.connections_open.add(1);
  last_write_ = core::SteadyClock::now();
  next_periodic_ = last_write_ + settings_.periodic_interval;
  head_ = std::move(head);
  chunked_ = chunked;

  if (settings_.opening_keepalive) queue_frame(settings_.keepalive_line);
  if (settings_.periodic_frame) queue_frame(settings_.periodic_frame);

  watch_for_close();
  if (resume && history) {
    state_ = State::Replaying;
    last_id_ = resume->after_id;
    metrics_.resumes[protocol()].add();
    // Half the bound for a page on its way to the client, half for live events held meanwhile.
    replay_ = std::make_unique<Replaying>(
        Replaying{history, ResumeMerge(resume->after_id, settings_.queue_limit_bytes / 2)});
    request_page(*resume);
  } else {
    state_ = State::Live;
  }
  // The head goes out at once, even before a replay: the client learns the stream is open.
  do_write();
}

void StreamSession::request_page(core::ResumePoint from) {
  replay_->page_in_flight = true;
  const bool queued = read_replay_page(
      *replay_->history, stream_, from, executor(),
      [self = shared_from_this()](std::shared_ptr<ReplayPage> page) {
        self->on_page(std::move(page));
      },
      std::max<std::size_t>(settings_.queue_limit_bytes / 2, 1));
  if (!queued) {
    spdlog::warn("sse stream={}: replay queue full, closing", stream_);
    close_later();
  }
}

void StreamSession::on_page(std::shared_ptr<ReplayPage> page) {
  if (state_ != State::Replaying) return;
  replay_->page_in_flight = false;
  if (!page) return close();  // the client retries and resumes from the same id
  if (page->reset) metrics_.resets[protocol()].add();
  auto step = replay_->merge.on_page(*page);
  for (auto& event : step.send) {
    queued_bytes_ += event->frame.size();
    queue_frame(std::move(event));
  }
  last_id_ = replay_->merge.last_id();
  if (step.next_page) {
    replay_->next_page = step.next_page;
  } else {
    state_ = State::Live;
    replay_.reset();
  }
  flush();
  request_next_page_if_drained();
}

void StreamSession::enqueue(const core::EventPtr& event) {
  if (state_ == State::Replaying) {
    // A client that is not taking what it was sent is cut off when live events would pass
    // the bound, as on a live stream; one that is waiting for a page from history is not
    // behind: the merge drops what it cannot hold and reads it again.
    if (write_in_flight_ && queued_bytes_ + replay_->merge.held_bytes() + event->frame.size() >
                                settings_.queue_limit_bytes / 2)
      return overflow();
    replay_->merge.on_live(event);
  } else if (state_ == State::Live) {
    push(event);
    // Only bytes the socket has not taken count: while no write is in flight, flush() hands
    // everything queued to the socket, however large one fan-out batch was.
    if (write_in_flight_ && queued_bytes_ > settings_.queue_limit_bytes) overflow();
  }
}

void StreamSession::overflow() {
  if (state_ == State::Closing || state_ == State::Closed) return;
  metrics_.queue_overflows[protocol()].add();
  spdlog::info("sse stream={}: client too slow ({} bytes queued), closing; it can resume",
               stream_, queued_bytes_ + (replay_ ? replay_->merge.held_bytes() : 0));
  close_later();
}

void StreamSession::push(core::EventPtr event) {
  if (event->id != 0) {
    if (event->id <= last_id_) return;  // already sent by the replay
    last_id_ = event->id;
  }
  queued_bytes_ += event->frame.size();
  queue_frame(std::move(event));
}

void StreamSession::queue_frame(core::EventPtr frame) {
  if (!preamble_sent_ && settings_.preamble && frame->frame.ends_with("\n\n")) {
    preamble_sent_ = true;
    queue_.push_back(settings_.preamble);
  }
  queue_.push_back(std::move(frame));
}

void StreamSession::flush() {
  if (write_in_flight_ || queue_.empty() || state_ == State::Closed) return;
  if (state_ == State::Replaying && queue_.empty()) return;
  do_write();
}

void StreamSession::do_write() {
  write_in_flight_ = true;
  writing_.swap(queue_);
  queued_bytes_ = 0;
  static constexpr std::string_view kChunkEnd = "\r\n";
  std::vector<boost::asio::const_buffer> buffers;
  buffers.reserve(writing_.size() + 3);
  if (!head_.empty()) buffers.emplace_back(boost::asio::buffer(head_));
  std::size_t body_bytes = 0;
  for (const auto& event : writing_) body_bytes += event->frame.size();
  // A chunk of size zero would end the body: a write without frames sends no chunk at all.
  const bool chunk = chunked_ && body_bytes > 0;
  if (chunk) {
    auto [end, ec] = std::to_chars(chunk_size_line_.data(), chunk_size_line_.data() + 16,
                                   body_bytes, 16);
    *end++ = '\r';
    *end++ = '\n';
    buffers.emplace_back(chunk_size_line_.data(),
                         static_cast<std::size_t>(end - chunk_size_line_.data()));
  }
  for (const auto& event : writing_) buffers.emplace_back(boost::asio::buffer(event->frame));
  if (chunk) buffers.emplace_back(boost::asio::buffer(kChunkEnd));
  write(std::move(buffers));
}

void StreamSession::on_write(boost::system::error_code ec) {
  write_in_flight_ = false;
  const auto now = core::SteadyClock::now();
  if (!ec) {
    last_write_ = now;
    if (!head_.empty()) std::string().swap(head_);
    std::uint64_t delivered = 0;
    for (const auto& event : writing_) {
      if (event->id == 0) continue;  // comments, keep-alives, the response head
      ++delivered;
      // Replayed events have no accept time: their latency is the client's absence.
      if (event->accepted_at != core::SteadyClock::time_point{})
        metrics_.accept_to_write.observe(now - event->accepted_at);
    }
    metrics_.events_delivered[protocol()].add(delivered);
  }
  writing_.clear();
  if (writing_.capacity() > 64) writing_.shrink_to_fit();
  if (ec) return close();
  if (state_ == State::Closing) {
    if (queue_.empty()) return close();
  }
  flush();
  request_next_page_if_drained();
  if (queue_.empty() && queue_.capacity() > 64) queue_.shrink_to_fit();
}

void StreamSession::request_next_page_if_drained() {
  if (!replay_ || !replay_->next_page || replay_->page_in_flight || write_in_flight_ || !queue_.empty())
    return;
  const core::ResumePoint next = *replay_->next_page;
  replay_->next_page.reset();
  request_page(next);
}

void StreamSession::tick(core::SteadyClock::time_point now) {
  if (state_ != State::Live || write_in_flight_ || !queue_.empty()) return;
  if (settings_.periodic_frame && now >= next_periodic_) {
    next_periodic_ = now + settings_.periodic_interval;
    queue_frame(settings_.periodic_frame);
  } else if (now - last_write_ >= settings_.keepalive) {
    queue_frame(settings_.keepalive_line);
  } else {
    return;
  }
  do_write();
}

void StreamSession::shutdown() {
  if (state_ == State::Closed) return;
  if (write_in_flight_) {
    state_ = State::Closing;  // finish the write in flight, then close
    queue_.clear();
  } else {
    close();
  }
}

void StreamSession::close_later() {
  if (state_ == State::Closed) return;
  state_ = State::Closing;
  queue_.clear();
  replay_.reset();
  boost::asio::post(executor(), [self = shared_from_this()] { self->close(); });
}

void StreamSession::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  hub_.detach(thread_, stream_, this);
  if (attached_) metrics_.streams_open[protocol()].add(-1);
  attached_ = false;
  close_transport(write_in_flight_);
  client_slot_.reset();
  queue_.clear();
  replay_.reset();
}

}  // namespace ssehub::sse
