#include "hub/hub.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <thread>

using namespace ssehub;

namespace {

class RecordingSubscriber : public hub::Subscriber {
 public:
  void enqueue(const core::EventPtr& event) override { pending.push_back(event); }
  void flush() override {
    ++flushes;
    for (auto& e : pending) received.push_back(e);
    pending.clear();
  }
  void tick(core::SteadyClock::time_point) override { ++ticks; }
  void shutdown() override { shut_down = true; }

  std::vector<core::EventPtr> pending, received;
  int flushes = 0, ticks = 0;
  bool shut_down = false;
};

core::EventPtr event_for(const std::string& stream, std::uint64_t id) {
  auto event = std::make_shared<core::Event>();
  event->stream = stream;
  event->id = id;
  event->frame = "id: " + std::to_string(id) + "\n\n";
  return event;
}

class HubTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_a_, io_b_;
  metrics::Registry metrics_;
  hub::Hub hub_{{&io_a_, &io_b_}, {.max_streams_per_user = 2, .max_streams = 0}, metrics_};
};

}  // namespace

TEST_F(HubTest, EveryStreamOfAUserReceivesOnEveryThread) {
  RecordingSubscriber tab1, tab2, other;
  ASSERT_EQ(hub_.attach(0, "v2:alice", &tab1), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub_.attach(1, "v2:alice", &tab2), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub_.attach(0, "v2:bob", &other), hub::Hub::Admission::Admitted);
  hub_.publish({event_for("v2:alice", 1), event_for("v2:alice", 2)});
  io_a_.run();
  io_b_.run();
  ASSERT_EQ(tab1.received.size(), 2u);
  ASSERT_EQ(tab2.received.size(), 2u);
  EXPECT_EQ(tab1.received[1]->id, 2u);
  EXPECT_TRUE(other.received.empty());
  EXPECT_EQ(tab1.flushes, 1);  // one batch, one flush: writes coalesce
  // Fan-out shares the event, it does not copy it.
  EXPECT_EQ(tab1.received[0].get(), tab2.received[0].get());
  EXPECT_EQ(metrics_.value("ssehub_users_connected"), 2);
  EXPECT_EQ(hub_.streams_open(), 3u);
}

TEST_F(HubTest, PublishCountsItsDeliveriesAcrossThreads) {
  RecordingSubscriber tab1, tab2, other;
  ASSERT_EQ(hub_.attach(0, "v2:alice", &tab1), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub_.attach(1, "v2:alice", &tab2), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub_.attach(1, "v2:bob", &other), hub::Hub::Admission::Admitted);
  EXPECT_EQ(hub_.publish({event_for("v2:alice", 1)}).deliveries, 2u);
  EXPECT_EQ(hub_.publish({event_for("v2:alice", 2), event_for("v2:bob", 1)}).deliveries, 3u);
  EXPECT_EQ(hub_.publish({event_for("v2:nobody", 1)}).deliveries, 0u);
  hub_.detach(1, "v2:alice", &tab2);
  EXPECT_EQ(hub_.publish({event_for("v2:alice", 3)}).deliveries, 1u);
}

TEST_F(HubTest, AThreadWhoseInboxWaitedPastTheBoundIsLagging) {
  RecordingSubscriber on_a, on_b;
  ASSERT_EQ(hub_.attach(0, "v2:alice", &on_a), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub_.attach(1, "v2:bob", &on_b), hub::Hub::Admission::Admitted);
  // Neither thread runs, as when their CPUs are taken away.
  EXPECT_EQ(hub_.publish({event_for("v2:alice", 1)}).lagging_threads, 0u) << "an empty inbox";
  EXPECT_EQ(hub_.publish({event_for("v2:bob", 1)}).lagging_threads, 0u) << "an empty inbox";
  std::this_thread::sleep_for(hub::Hub::kLaggingAfter * 3);
  EXPECT_EQ(hub_.publish({event_for("v2:bob", 2)}).lagging_threads, 0b10u)
      << "thread 1 has not delivered bob's first event";
  EXPECT_EQ(hub_.publish({event_for("v2:alice", 2), event_for("v2:bob", 3)}).lagging_threads, 0b11u);
  io_b_.poll();
  EXPECT_EQ(on_b.received.size(), 3u);
  EXPECT_EQ(hub_.publish({event_for("v2:bob", 4)}).lagging_threads, 0u) << "thread 1 caught up";
  EXPECT_EQ(hub_.publish({event_for("v2:nobody", 1)}).lagging_threads, 0u)
      << "no stream, no thread to wait for";
}

TEST_F(HubTest, ABusyThreadIsLaggingOnlyPastSeveralOfItsUsualWaits) {
  RecordingSubscriber on_b;
  ASSERT_EQ(hub_.attach(1, "v2:bob", &on_b), hub::Hub::Admission::Admitted);
  // Thread 1 is busy: each delivery waits a while behind its other work, far longer than
  // kLaggingAfter, but it does deliver.
  // Waits of milliseconds, so that a sleep's overshoot on a loaded machine stays small
  // beside the margins below (the bound is 4 usual waits).
  const auto busy_wait = hub::Hub::kLaggingAfter * 50;
  std::uint64_t id = 0;
  for (int delivery = 0; delivery < 40; ++delivery) {
    hub_.publish({event_for("v2:bob", ++id)});
    std::this_thread::sleep_for(busy_wait);
    io_b_.poll();
    io_b_.restart();
  }
  ASSERT_EQ(on_b.received.size(), id);

  hub_.publish({event_for("v2:bob", ++id)});
  std::this_thread::sleep_for(busy_wait);
  EXPECT_EQ(hub_.publish({event_for("v2:bob", ++id)}).lagging_threads, 0u)
      << "a wait like its usual ones: the thread is busy, not stopped";
  std::this_thread::sleep_for(busy_wait * (hub::Hub::kLaggingOverUsualWait * 3));
  EXPECT_EQ(hub_.publish({event_for("v2:bob", ++id)}).lagging_threads, 0b10u)
      << "many of its usual waits: the thread is not running";
}

TEST_F(HubTest, AfterDeliveredRunsOnceTheLaggingThreadDeliveredWhatCameBefore) {
  RecordingSubscriber on_b;
  ASSERT_EQ(hub_.attach(1, "v2:bob", &on_b), hub::Hub::Admission::Admitted);
  hub_.publish({event_for("v2:bob", 1)});
  std::size_t seen_when_answered = 99;
  hub_.after_delivered(0b10, io_a_.get_executor(),
                       [&] { seen_when_answered = on_b.received.size(); });
  EXPECT_EQ(io_a_.poll(), 0u) << "nothing for thread 0 before thread 1 delivered";
  EXPECT_EQ(seen_when_answered, 99u);
  io_b_.poll();
  io_a_.restart();  // its poll above ran out of work
  io_a_.poll();
  EXPECT_EQ(seen_when_answered, 1u) << "run on thread 0 after thread 1's delivery";
}

TEST_F(HubTest, AfterDeliveredDoesNotWaitForTheAnsweringThreadItself) {
  bool answered = false;
  hub_.after_delivered(0b01, io_a_.get_executor(), [&] { answered = true; });
  EXPECT_EQ(io_b_.poll(), 0u) << "thread 1 is not lagging: not visited";
  io_a_.poll();
  EXPECT_TRUE(answered) << "thread 0's own queue is behind its deliveries already";
}

TEST_F(HubTest, PerUserLimitIsGlobalAcrossThreads) {
  RecordingSubscriber a, b, c;
  EXPECT_EQ(hub_.attach(0, "v2:alice", &a), hub::Hub::Admission::Admitted);
  EXPECT_EQ(hub_.attach(1, "v2:alice", &b), hub::Hub::Admission::Admitted);
  EXPECT_EQ(hub_.attach(0, "v2:alice", &c), hub::Hub::Admission::UserLimit);
  hub_.detach(1, "v2:alice", &b);
  EXPECT_EQ(hub_.attach(0, "v2:alice", &c), hub::Hub::Admission::Admitted);
}

TEST_F(HubTest, ClosingOneTabLeavesTheOtherReceiving) {
  RecordingSubscriber old_tab, new_tab;
  hub_.attach(0, "v2:alice", &old_tab);
  hub_.attach(0, "v2:alice", &new_tab);
  hub_.detach(0, "v2:alice", &old_tab);
  hub_.publish({event_for("v2:alice", 1)});
  io_a_.run();
  EXPECT_TRUE(old_tab.received.empty());
  EXPECT_EQ(new_tab.received.size(), 1u);
}

TEST_F(HubTest, PublishSkipsThreadsWithoutTheUser) {
  RecordingSubscriber tab;
  hub_.attach(1, "v2:alice", &tab);
  hub_.publish({event_for("v2:alice", 1)});
  EXPECT_EQ(io_a_.poll(), 0u);  // nothing was posted to thread 0
  EXPECT_EQ(io_b_.poll(), 1u);
  EXPECT_EQ(tab.received.size(), 1u);
}

TEST_F(HubTest, TotalLimitRefusesNewStreams) {
  hub::Hub limited({&io_a_}, {.max_streams_per_user = 10, .max_streams = 1}, metrics_);
  RecordingSubscriber a, b;
  EXPECT_EQ(limited.attach(0, "v2:a", &a), hub::Hub::Admission::Admitted);
  EXPECT_EQ(limited.attach(0, "v2:b", &b), hub::Hub::Admission::TotalLimit);
}

TEST_F(HubTest, ShutdownReachesEverySubscriber) {
  RecordingSubscriber demo, user;
  hub_.attach(0, "", &demo);
  hub_.attach(1, "v2:alice", &user);
  hub_.shutdown_all();
  io_a_.run();
  io_b_.run();
  EXPECT_TRUE(demo.shut_down);
  EXPECT_TRUE(user.shut_down);
}

TEST_F(HubTest, WaitUntilClosedEndsWhenTheLastStreamHasDetached) {
  RecordingSubscriber demo, user;
  hub_.attach(0, "", &demo);
  hub_.attach(1, "v2:alice", &user);
  hub_.shutdown_all();
  EXPECT_FALSE(hub_.wait_until_closed(std::chrono::milliseconds(0)));
  auto waited = std::async(std::launch::async,
                           [this] { return hub_.wait_until_closed(std::chrono::seconds(60)); });
  hub_.detach(0, "", &demo);  // what a stream does as it closes
  EXPECT_EQ(waited.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "ended with a stream still open";
  hub_.detach(1, "v2:alice", &user);
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(waited.get());
  EXPECT_EQ(hub_.streams_open(), 0u);
}

// A tick pass over every stream of a large shard holds its thread (about 0.3 ms for 5,000),
// and publishes arriving then wait it out. Large shards are ticked a slice at a time instead,
// and every stream still once per period.
TEST(HubTickTest, ALargeShardIsTickedInSlicesAndEveryStreamOncePerRound) {
  class TickTimes : public hub::Subscriber {
   public:
    void enqueue(const core::EventPtr&) override {}
    void flush() override {}
    void tick(core::SteadyClock::time_point now) override { ticks.push_back(now); }
    void shutdown() override {}
    std::vector<core::SteadyClock::time_point> ticks;
  };
  boost::asio::io_context io;
  metrics::Registry metrics;
  hub::Hub hub({&io}, {.max_streams_per_user = 1, .max_streams = 0}, metrics);
  constexpr std::size_t kStreams = 2000;
  std::vector<TickTimes> streams(kStreams);
  for (auto& stream : streams) ASSERT_EQ(hub.attach(0, "", &stream), hub::Hub::Admission::Admitted);
  hub.start_ticking(std::chrono::milliseconds(40));
  auto ticked_twice = [&] {
    return std::all_of(streams.begin(), streams.end(), [](const auto& s) { return s.ticks.size() >= 2; });
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ticked_twice() && std::chrono::steady_clock::now() < deadline)
    io.run_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(ticked_twice()) << "some stream was never ticked twice";

  // One timer firing gives its slice one `now`.
  std::map<core::SteadyClock::time_point, std::size_t> per_firing;
  std::size_t fewest = SIZE_MAX, most = 0;
  for (const auto& stream : streams) {
    for (auto now : stream.ticks) ++per_firing[now];
    fewest = std::min(fewest, stream.ticks.size());
    most = std::max(most, stream.ticks.size());
  }
  std::size_t largest = 0;
  for (const auto& [now, count] : per_firing) largest = std::max(largest, count);
  EXPECT_LE(largest, 512u) << "a firing ticked this many streams in one go";
  EXPECT_LE(most, fewest + 1) << "streams were not ticked in turn";
}

// History on the callers' threads publishes from every I/O thread in turn, under its lock. A
// publish made on a stream's own thread must still arrive before one another thread makes
// after it: a plain post from the running thread would wait in asio's thread-private queue
// (an io_context for one thread, as IoPool runs them) until the handler returns.
TEST(HubOrderTest, EventsArriveInPublishOrderWhicheverThreadsPublishedThem) {
  boost::asio::io_context io{1};
  metrics::Registry metrics;
  hub::Hub hub{{&io}, {.max_streams_per_user = 2, .max_streams = 0}, metrics};
  RecordingSubscriber tab;
  ASSERT_EQ(hub.attach(0, "v2:alice", &tab), hub::Hub::Admission::Admitted);
  boost::asio::post(io, [&] {
    hub.publish({event_for("v2:alice", 1)});
    std::thread([&] { hub.publish({event_for("v2:alice", 2)}); }).join();
  });
  io.run();
  ASSERT_EQ(tab.received.size(), 2u);
  EXPECT_EQ(tab.received[0]->id, 1u);
  EXPECT_EQ(tab.received[1]->id, 2u);
}
