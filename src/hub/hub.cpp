#include "hub/hub.hpp"

#include "core/run_on.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <functional>
#include <iterator>
#include <mutex>

namespace ssehub::hub {

struct Hub::Shard {
  explicit Shard(boost::asio::io_context& context) : context(context), tick_timer(context) {}
  boost::asio::io_context& context;
  boost::asio::steady_timer tick_timer;
  std::unordered_map<std::string, std::vector<Subscriber*>> by_stream;
  std::vector<Subscriber*> all;
  std::vector<Subscriber*> touched;  // scratch: subscribers to flush after one delivery
  // Events published for this thread, in publish order. A publisher appends and posts a
  // delivery only when the inbox was empty, so events reach streams in the order they were
  // published whichever threads published them: posts alone would not keep it, as a post
  // made on this thread waits in asio's thread-private queue until the running handler
  // returns, behind posts other threads made meanwhile.
  std::mutex inbox_mutex;
  std::vector<core::EventPtr> inbox;
  core::SteadyClock::time_point inbox_since;  // when the inbox last took an event while empty
  // How long the inbox usually waits before this thread takes it: a moving average over its
  // deliveries, kept by this thread under inbox_mutex.
  core::SteadyClock::duration usual_wait{};
  std::vector<core::EventPtr> delivering;  // this thread's: the inbox taken, capacity kept
  // Set by shutdown_all on this shard's thread: a tick that already fired must not re-arm.
  bool stopped = false;
  std::size_t tick_cursor = 0;  // in `all`: where the next slice of ticks starts
};

namespace {

// Subscribers ticked in one go: a pass over thousands of streams, each a cache miss, holds
// the thread (about 0.3 ms for 5,000 here) every tick period, and publishes arriving then
// wait it out (a latency tail). Larger shards are ticked a slice at a time, more often.
constexpr std::size_t kTicksPerSlice = 512;
constexpr std::size_t kMaxSlices = 20;

// The usual wait follows each delivery by an eighth of the difference: a few dozen
// deliveries (milliseconds under load) forget a stall.
constexpr int kUsualWaitSmoothing = 8;

// A thread is lagging once its inbox waited past kLaggingAfter and past several of its usual
// waits. Under a load that keeps both threads busy an inbox routinely waits 100-300 µs behind
// the thread's other work; that thread is running, and sending answers by way of it only
// adds two hops (with kLaggingAfter alone, a quarter of the publishes at 32 publishers, and
// about 3 % of the deliveries/s: BENCHMARKS.md). A thread that does not run at all makes the
// wait milliseconds.
core::SteadyClock::duration lagging_bound(core::SteadyClock::duration usual_wait) {
  return std::max<core::SteadyClock::duration>(Hub::kLaggingAfter,
                                               Hub::kLaggingOverUsualWait * usual_wait);
}

std::size_t slices_for(std::size_t subscribers) {
  return std::clamp<std::size_t>((subscribers + kTicksPerSlice - 1) / kTicksPerSlice, 1, kMaxSlices);
}

}  // namespace

HubMetrics::HubMetrics(metrics::Registry& registry)
    : users_connected(
          registry.gauge("ssehub_users_connected", "Users with at least one open stream.")) {}

Hub::Hub(std::vector<boost::asio::io_context*> contexts, HubLimits limits, metrics::Registry& registry)
    : limits_(limits), metrics_(registry) {
  if (contexts.size() > kMaxThreads) throw std::invalid_argument("too many I/O threads for the hub");
  for (auto* context : contexts) shards_.push_back(std::make_unique<Shard>(*context));
}

Hub::~Hub() = default;

Hub::Stripe& Hub::stripe_of(const std::string& stream) {
  return stripes_[std::hash<std::string>{}(stream) % kStripes];
}

Hub::Admission Hub::attach(unsigned thread, const std::string& stream, Subscriber* subscriber) {
  Shard& shard = *shards_[thread];
  if (limits_.max_streams != 0 && streams_.count() >= limits_.max_streams)
    return Admission::TotalLimit;
  if (!stream.empty()) {
    Stripe& stripe = stripe_of(stream);
    std::lock_guard lock(stripe.mutex);
    Presence& presence = stripe.streams[stream];
    if (presence.streams >= limits_.max_streams_per_user) {
      if (presence.streams == 0) stripe.streams.erase(stream);
      return Admission::UserLimit;
    }
    if (presence.streams++ == 0) metrics_.users_connected.add(1);
    // Set under the stripe lock, before the caller asks history for a replay: a publish that
    // misses this bit committed before the replay reads, so the replay contains it.
    presence.thread_mask |= std::uint64_t{1} << thread;
  }
  if (!stream.empty()) shard.by_stream[stream].push_back(subscriber);
  subscriber->hub_slot_ = shard.all.size();
  shard.all.push_back(subscriber);
  streams_.add();
  return Admission::Admitted;
}

void Hub::detach(unsigned thread, const std::string& stream, Subscriber* subscriber) {
  Shard& shard = *shards_[thread];
  const std::size_t slot = subscriber->hub_slot_;
  if (slot >= shard.all.size() || shard.all[slot] != subscriber) return;  // not attached
  shard.all[slot] = shard.all.back();
  shard.all[slot]->hub_slot_ = slot;
  shard.all.pop_back();
  streams_.remove();
  if (stream.empty()) return;

  bool last_on_thread = false;
  if (auto it = shard.by_stream.find(stream); it != shard.by_stream.end()) {
    auto& list = it->second;
    std::erase(list, subscriber);
    if (list.empty()) {
      shard.by_stream.erase(it);
      last_on_thread = true;
    }
  }
  Stripe& stripe = stripe_of(stream);
  std::lock_guard lock(stripe.mutex);
  auto it = stripe.streams.find(stream);
  if (it == stripe.streams.end()) return;
  if (last_on_thread) it->second.thread_mask &= ~(std::uint64_t{1} << thread);
  if (--it->second.streams == 0) {
    stripe.streams.erase(it);
    metrics_.users_connected.add(-1);
  }
}

Hub::Published Hub::publish(std::vector<core::EventPtr> events) {
  // The threads that hold each event's stream, then each such thread's events appended to
  // its inbox under one lock, in publish order. Nothing is allocated for the usual single
  // event.
  std::uint64_t single_mask = 0;
  std::vector<std::uint64_t> many_masks;
  if (events.size() > 1) many_masks.resize(events.size());
  std::uint64_t* masks = events.size() > 1 ? many_masks.data() : &single_mask;
  std::uint64_t any = 0;
  Published published;
  for (std::size_t i = 0; i < events.size(); ++i) {
    Stripe& stripe = stripe_of(events[i]->stream);
    std::lock_guard lock(stripe.mutex);
    auto it = stripe.streams.find(events[i]->stream);
    if (it == stripe.streams.end()) {
      masks[i] = 0;
      continue;
    }
    masks[i] = it->second.thread_mask;
    any |= masks[i];
    published.deliveries += it->second.streams;
  }
  for (unsigned thread = 0; thread < shards_.size(); ++thread) {
    const std::uint64_t bit = std::uint64_t{1} << thread;
    if ((any & bit) == 0) continue;
    Shard& shard = *shards_[thread];
    bool was_empty = false;
    {
      std::lock_guard lock(shard.inbox_mutex);
      was_empty = shard.inbox.empty();
      const auto now = core::SteadyClock::now();
      if (was_empty)
        shard.inbox_since = now;
      else if (now - shard.inbox_since > lagging_bound(shard.usual_wait))
        published.lagging_threads |= bit;
      for (std::size_t i = 0; i < events.size(); ++i)
        if (masks[i] & bit) shard.inbox.push_back(events[i]);
    }
    if (was_empty) boost::asio::post(shard.context, [this, thread] { deliver_inbox(thread); });
  }
  return published;
}

void Hub::after_delivered(std::uint64_t threads, boost::asio::any_io_executor then_on,
                          std::function<void()> then) {
  const auto* io = then_on.target<boost::asio::io_context::executor_type>();
  for (unsigned thread = 0; thread < shards_.size(); ++thread) {
    const std::uint64_t bit = std::uint64_t{1} << thread;
    if ((threads & bit) == 0) continue;
    threads &= ~bit;
    if (io != nullptr && &io->context() == &shards_[thread]->context) continue;
    // Queued behind the delivery the publish posted (or found posted) on that thread.
    boost::asio::post(shards_[thread]->context, [this, threads, then_on = std::move(then_on),
                                                 then = std::move(then)]() mutable {
      after_delivered(threads, std::move(then_on), std::move(then));
    });
    return;
  }
  core::run_on(then_on, std::move(then));
}

void Hub::deliver_inbox(unsigned thread) {
  Shard& shard = *shards_[thread];
  {
    std::lock_guard lock(shard.inbox_mutex);
    const auto waited = core::SteadyClock::now() - shard.inbox_since;
    shard.usual_wait += (waited - shard.usual_wait) / kUsualWaitSmoothing;
    shard.delivering.swap(shard.inbox);
  }
  deliver_on(thread, shard.delivering);
  shard.delivering.clear();
}

void Hub::deliver_on(unsigned thread, const std::vector<core::EventPtr>& events) {
  Shard& shard = *shards_[thread];
  shard.touched.clear();
  for (const core::EventPtr& event : events) {
    auto it = shard.by_stream.find(event->stream);
    if (it == shard.by_stream.end()) continue;
    // Subscribers never detach synchronously inside enqueue, so the list is stable here.
    for (Subscriber* subscriber : it->second) {
      subscriber->enqueue(event);
      shard.touched.push_back(subscriber);
    }
  }
  if (shard.touched.size() > 1) {
    std::sort(shard.touched.begin(), shard.touched.end());
    shard.touched.erase(std::unique(shard.touched.begin(), shard.touched.end()),
                        shard.touched.end());
  }
  for (Subscriber* subscriber : shard.touched) subscriber->flush();
}

void Hub::start_ticking(std::chrono::milliseconds period) {
  tick_period_ = period;
  for (unsigned thread = 0; thread < shards_.size(); ++thread)
    boost::asio::post(shards_[thread]->context, [this, thread] { schedule_tick(thread); });
}

// Every subscriber is ticked once per tick period: in one pass, or in slices spread over the
// period. A subscriber attached or detached meanwhile may be ticked a period late (detach
// moves the last one into the freed slot), which keep-alives and timers allow.
void Hub::schedule_tick(unsigned thread) {
  Shard& shard = *shards_[thread];
  const std::size_t slices = slices_for(shard.all.size());
  shard.tick_timer.expires_after(tick_period_ / slices);
  shard.tick_timer.async_wait([this, thread, slices](boost::system::error_code ec) {
    Shard& shard = *shards_[thread];
    if (ec || shard.stopped) return;
    const auto now = core::SteadyClock::now();
    const std::size_t count = std::min(shard.all.size(), (shard.all.size() + slices - 1) / slices);
    // Bounds checked at each step: a tick may end its stream, which detaches it.
    for (std::size_t done = 0; done < count && !shard.all.empty(); ++done) {
      if (shard.tick_cursor >= shard.all.size()) shard.tick_cursor = 0;
      shard.all[shard.tick_cursor++]->tick(now);
    }
    schedule_tick(thread);
  });
}

void Hub::shutdown_all() {
  for (unsigned thread = 0; thread < shards_.size(); ++thread) {
    boost::asio::post(shards_[thread]->context, [this, thread] {
      Shard& shard = *shards_[thread];
      shard.stopped = true;
      shard.tick_timer.cancel();
      const auto subscribers = shard.all;  // shutdown detaches
      for (Subscriber* subscriber : subscribers) subscriber->shutdown();
    });
  }
}

}  // namespace ssehub::hub
