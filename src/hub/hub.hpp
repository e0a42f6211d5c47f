#pragma once

#include "core/event.hpp"
#include "core/in_progress.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ssehub::hub {

// A stream as the hub sees it. All calls arrive on the subscriber's own I/O thread.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void enqueue(const core::EventPtr& event) = 0;  // buffer, do not write yet
  virtual void flush() = 0;                          // write what enqueue buffered
  virtual void tick(core::SteadyClock::time_point now) = 0;  // keep-alives and other timers
  virtual void shutdown() = 0;                       // server stopping: close cleanly

  std::size_t hub_slot_ = 0;  // position in its shard's list; owned by the hub
};

struct HubLimits {
  std::size_t max_streams_per_user = 32;
  std::size_t max_streams = 0;  // 0 = unlimited
};

// Who is connected where. One shard per I/O thread holds that thread's subscribers, so
// delivery takes no lock; a small striped directory knows, per stream, how many subscribers
// exist and on which threads, so limits hold globally and publishes wake only those threads.
// What the hub counts (the streams themselves count in sse::StreamMetrics, by protocol).
struct HubMetrics {
  explicit HubMetrics(metrics::Registry& registry);
  metrics::Gauge& users_connected;  // users with at least one open stream
};

class Hub {
 public:
  static constexpr unsigned kMaxThreads = 64;
  enum class Admission { Admitted, UserLimit, TotalLimit };

  Hub(std::vector<boost::asio::io_context*> contexts, HubLimits limits, metrics::Registry& registry);
  ~Hub();

  // On I/O thread `thread`. Every subscriber is registered for ticks and shutdown;
  // `stream` may be empty for streams that receive no published events (v1).
  Admission attach(unsigned thread, const std::string& stream, Subscriber* subscriber);
  void detach(unsigned thread, const std::string& stream, Subscriber* subscriber);

  // Any thread. Events of one stream must be published in id order: by one thread, or by
  // threads that take turns under a lock of the caller's (History on the callers' threads).
  struct Published {
    std::size_t deliveries = 0;  // for each event, the streams it goes to on every thread, summed
    // The threads (bit i: thread i) that get these events and are behind: events published
    // for them earlier have waited longer than kLaggingAfter and than kLaggingOverUsualWait
    // times the thread's usual wait, so the thread is not running (descheduled, or its CPU
    // taken away by a hypervisor) rather than busy.
    std::uint64_t lagging_threads = 0;
  };
  Published publish(std::vector<core::EventPtr> events);
  // An inbox that waits longer than this may have a thread that is not running: a thread that
  // is idle or lightly loaded takes its inbox within microseconds, one that does not run takes
  // milliseconds.
  static constexpr std::chrono::microseconds kLaggingAfter{100};
  // ...and than this many times the thread's usual wait: a busy thread's inbox routinely
  // waits longer than kLaggingAfter, and that thread is not behind.
  static constexpr int kLaggingOverUsualWait = 4;

  // Any thread. Runs `then` on `then_on` once each of `threads` (a publish's lagging_threads;
  // then_on's own thread needs no wait) has delivered what was published for it before this
  // call: a publisher's answer that waits so holds its next publish back while a thread
  // cannot deliver, instead of queueing more for it. Best effort: a publisher descheduled
  // between its inbox push and its wake-up post may be passed.
  void after_delivered(std::uint64_t threads, boost::asio::any_io_executor then_on,
                       std::function<void()> then);

  // Starts the per-thread tick timers (period chosen from the smallest interval in use).
  void start_ticking(std::chrono::milliseconds period);
  // Asks every subscriber to close; returns at once.
  void shutdown_all();
  // After shutdown_all: waits until every stream has closed (a stream finishing a write
  // closes once it is written), or `timeout`; false when some are still open.
  bool wait_until_closed(std::chrono::milliseconds timeout) { return streams_.wait_until_empty(timeout); }

  std::size_t streams_open() const { return streams_.count(); }

 private:
  struct Shard;
  struct Presence {
    std::uint32_t streams = 0;
    std::uint64_t thread_mask = 0;
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, Presence> streams;
  };
  static constexpr std::size_t kStripes = 64;

  Stripe& stripe_of(const std::string& stream);
  void deliver_inbox(unsigned thread);
  void deliver_on(unsigned thread, const std::vector<core::EventPtr>& events);
  void schedule_tick(unsigned thread);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::array<Stripe, kStripes> stripes_;
  HubLimits limits_;
  HubMetrics metrics_;
  core::InProgress streams_;  // open streams, all threads together
  std::chrono::milliseconds tick_period_{100};
};

}  // namespace ssehub::hub
