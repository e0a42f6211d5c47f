// The hub under real threads, for ThreadSanitizer (`make test-tsan`) as much as for its
// asserts: I/O threads attach, detach and tick while publisher threads fan out.
#include "hub/hub.hpp"
#include "support/io_threads.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace ssehub;
using ssehub::test_support::IoThreads;

namespace {

// Checks, on its own I/O thread, that each stream's events arrive once and in id order.
class OrderedSubscriber : public hub::Subscriber {
 public:
  void enqueue(const core::EventPtr& event) override {
    std::uint64_t& last = last_id[event->stream];
    if (event->id <= last) ++out_of_order;
    last = event->id;
    ++pending;
  }
  void flush() override {
    received += pending;
    pending = 0;
  }
  void tick(core::SteadyClock::time_point) override { ++ticks; }
  void shutdown() override { shut_down = true; }

  std::map<std::string, std::uint64_t> last_id;
  std::size_t pending = 0, received = 0, out_of_order = 0, ticks = 0;
  bool shut_down = false;
};

core::EventPtr event_for(const std::string& stream, std::uint64_t id) {
  auto event = std::make_shared<core::Event>();
  event->stream = stream;
  event->id = id;
  event->frame = "id: " + std::to_string(id) + "\ndata: x\n\n";
  return event;
}

std::string stream_name(unsigned i) { return "v2:user" + std::to_string(i); }

}  // namespace

TEST(HubStressTest, ConcurrentAttachDetachAndPublishDeliverEveryEventInOrder) {
  constexpr unsigned kThreads = 3, kStreams = 8, kPublishers = 2;
  constexpr std::uint64_t kEventsPerStream = 1500;
  IoThreads io(kThreads);
  metrics::Registry metrics;
  hub::Hub hub(io.contexts(), {.max_streams_per_user = 1000, .max_streams = 0}, metrics);
  hub.start_ticking(std::chrono::milliseconds(1));

  // One subscriber per thread and stream for the whole run: each must see every event.
  std::vector<std::unique_ptr<OrderedSubscriber>> steady;
  for (unsigned t = 0; t < kThreads; ++t)
    for (unsigned s = 0; s < kStreams; ++s) {
      steady.push_back(std::make_unique<OrderedSubscriber>());
      OrderedSubscriber* subscriber = steady.back().get();
      ASSERT_EQ(io.run_on(t, [&, t, s] { return hub.attach(t, stream_name(s), subscriber); }),
                hub::Hub::Admission::Admitted);
    }

  // Meanwhile every I/O thread keeps attaching and detaching short-lived subscribers (and
  // v1-style ones with no stream), as tabs come and go.
  std::atomic<bool> publishing{true};
  std::atomic<std::size_t> churned{0};
  std::vector<std::thread> churners;
  for (unsigned t = 0; t < kThreads; ++t) {
    churners.emplace_back([&, t] {
      std::mt19937 random(t);
      std::vector<std::pair<std::string, std::unique_ptr<OrderedSubscriber>>> live;
      while (publishing.load()) {
        io.run_on(t, [&] {
          for (int i = 0; i < 4; ++i) {
            const std::string stream = random() % 5 == 0 ? "" : stream_name(random() % kStreams);
            auto subscriber = std::make_unique<OrderedSubscriber>();
            if (hub.attach(t, stream, subscriber.get()) == hub::Hub::Admission::Admitted)
              live.emplace_back(stream, std::move(subscriber));
          }
          while (live.size() > 6) {
            const std::size_t victim = random() % live.size();
            EXPECT_EQ(live[victim].second->out_of_order, 0u);
            hub.detach(t, live[victim].first, live[victim].second.get());
            std::swap(live[victim], live.back());
            live.pop_back();
            churned.fetch_add(1);
          }
        });
      }
      io.run_on(t, [&] {
        for (auto& [stream, subscriber] : live) hub.detach(t, stream, subscriber.get());
      });
    });
  }

  // Each stream has one publisher thread, as the hub requires; batches mix streams. They
  // start once the churn has, or a fast publish could be over before a tab came or went.
  while (churned.load() == 0) std::this_thread::yield();
  std::vector<std::thread> publishers;
  for (unsigned p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      std::mt19937 random(100 + p);
      std::map<unsigned, std::uint64_t> next;
      for (unsigned s = p; s < kStreams; s += kPublishers) next[s] = 1;
      while (!next.empty()) {
        std::vector<core::EventPtr> batch;
        for (int i = 1 + random() % 3; i > 0 && !next.empty(); --i) {
          auto it = std::next(next.begin(), random() % next.size());
          batch.push_back(event_for(stream_name(it->first), it->second++));
          if (it->second > kEventsPerStream) next.erase(it);
        }
        hub.publish(std::move(batch));
      }
    });
  }
  for (auto& thread : publishers) thread.join();
  publishing = false;
  for (auto& thread : churners) thread.join();
  io.drain();

  for (unsigned t = 0; t < kThreads; ++t) {
    io.run_on(t, [&] {
      for (unsigned s = 0; s < kStreams; ++s) {
        const OrderedSubscriber& subscriber = *steady[t * kStreams + s];
        EXPECT_EQ(subscriber.out_of_order, 0u);
        EXPECT_EQ(subscriber.received, kEventsPerStream) << "thread " << t << " stream " << s;
        EXPECT_EQ(subscriber.last_id.at(stream_name(s)), kEventsPerStream);
      }
    });
  }
  EXPECT_GT(churned.load(), 0u);
  EXPECT_EQ(hub.streams_open(), kThreads * kStreams);
  EXPECT_EQ(metrics.value("ssehub_users_connected"), static_cast<std::int64_t>(kStreams));

  hub.shutdown_all();
  io.drain();
  for (unsigned t = 0; t < kThreads; ++t) {
    io.run_on(t, [&] {
      for (unsigned s = 0; s < kStreams; ++s) {
        OrderedSubscriber& subscriber = *steady[t * kStreams + s];
        EXPECT_TRUE(subscriber.shut_down);
        hub.detach(t, stream_name(s), &subscriber);  // what a stream does on shutdown
      }
    });
  }
  EXPECT_EQ(hub.streams_open(), 0u);
  EXPECT_EQ(metrics.value("ssehub_users_connected"), 0);
  io.stop();
}

// Hub::shutdown_all cancels each shard's tick timer; when the timer has already fired and its
// handler is queued, cancel() finds nothing to cancel, so the handler must see the shard
// stopped and not re-arm the timer. Otherwise subscribers keep being ticked after shutdown
// and an io_context left to run out never does.
TEST(HubStressTest, ShutdownAllStopsTicking) {
  int ticking_after_shutdown = 0;
  for (int round = 0; round < 200; ++round) {
    IoThreads io(1);
    metrics::Registry metrics;
    hub::Hub hub(io.contexts(), {}, metrics);
    OrderedSubscriber subscriber;
    io.run_on(0, [&] { hub.attach(0, "v2:ticked", &subscriber); });
    hub.start_ticking(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::microseconds(500 + 37 * (round % 40)));
    hub.shutdown_all();
    io.drain();
    const std::size_t ticks_at_shutdown = io.run_on(0, [&] { return subscriber.ticks; });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (io.run_on(0, [&] { return subscriber.ticks; }) != ticks_at_shutdown) ++ticking_after_shutdown;
    io.run_on(0, [&] { hub.detach(0, "v2:ticked", &subscriber); });
    io.stop();  // before the hub goes: its timer may still be armed
  }
  EXPECT_EQ(ticking_after_shutdown, 0) << "rounds of 200 in which ticks went on after shutdown_all";
}
