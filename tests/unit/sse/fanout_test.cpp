#include "sse/fanout.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <thread>

using namespace ssehub;

namespace {

class RecordingSubscriber : public hub::Subscriber {
 public:
  void enqueue(const core::EventPtr& event) override { received.push_back(event); }
  void flush() override {}
  void tick(core::SteadyClock::time_point) override {}
  void shutdown() override {}
  std::vector<core::EventPtr> received;
};

history::StoredEventPtr stored(std::string stream, std::uint64_t id, std::string type,
                               std::string data) {
  return std::make_shared<history::StoredEvent>(history::StoredEvent{
      .stream = std::move(stream),
      .id = id,
      .type = std::move(type),
      .data = std::move(data),
      .accepted_at = core::SteadyClock::now() - std::chrono::milliseconds(id)});
}

}  // namespace

TEST(FanoutTest, EachCommittedEventIsFramedOnceAndSharedByEveryStreamOfItsUser) {
  boost::asio::io_context io_a, io_b;
  metrics::Registry metrics;
  hub::Hub hub({&io_a, &io_b}, {.max_streams_per_user = 4, .max_streams = 0}, metrics);
  RecordingSubscriber tab1, tab2, other;
  ASSERT_EQ(hub.attach(0, "v2:alice", &tab1), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub.attach(1, "v2:alice", &tab2), hub::Hub::Admission::Admitted);
  ASSERT_EQ(hub.attach(0, "v2:bob", &other), hub::Hub::Admission::Admitted);

  const std::vector<history::StoredEventPtr> committed = {
      stored("v2:alice", 1, "", "hello\nworld"), stored("v2:carol", 1, "", "nobody listens"),
      stored("v2:alice", 2, "report", "{}")};
  sse::Fanout fanout(hub);
  EXPECT_EQ(fanout.on_commit(committed).deliveries, 4u) << "alice's two tabs, for each of her two events";
  io_a.run();
  io_b.run();

  ASSERT_EQ(tab1.received.size(), 2u);
  ASSERT_EQ(tab2.received.size(), 2u);
  EXPECT_TRUE(other.received.empty());
  EXPECT_EQ(tab1.received[0]->frame, "id: 1\ndata: hello\ndata: world\n\n");
  EXPECT_EQ(tab1.received[1]->frame, "id: 2\nevent: report\ndata: {}\n\n");
  for (std::size_t i = 0; i < 2; ++i) {
    // One frame for both tabs, on both threads: fan-out copies the pointer.
    EXPECT_EQ(tab1.received[i].get(), tab2.received[i].get());
    EXPECT_EQ(tab1.received[i]->stream, "v2:alice");
    EXPECT_EQ(tab1.received[i]->id, i + 1);
  }
  // The accept time goes with the frame, for the accept-to-write latency.
  EXPECT_EQ(tab1.received[0]->accepted_at, committed[0]->accepted_at);
  EXPECT_EQ(tab1.received[1]->accepted_at, committed[2]->accepted_at);
  hub.detach(0, "v2:alice", &tab1);
  hub.detach(1, "v2:alice", &tab2);
  hub.detach(0, "v2:bob", &other);
}

// The hub's mark of a thread that is behind reaches history, and history's wait for it goes
// back to the hub: an answer held for thread 1 runs on thread 0 only after thread 1 delivered.
TEST(FanoutTest, AThreadBehindIsReportedAndWaitedForThroughTheHub) {
  boost::asio::io_context io_a, io_b;
  metrics::Registry metrics;
  hub::Hub hub({&io_a, &io_b}, {.max_streams_per_user = 4, .max_streams = 0}, metrics);
  RecordingSubscriber on_b;
  ASSERT_EQ(hub.attach(1, "v2:bob", &on_b), hub::Hub::Admission::Admitted);
  sse::Fanout fanout(hub);

  EXPECT_EQ(fanout.on_commit({stored("v2:bob", 1, "", "a")}).lagging, 0u) << "an empty inbox";
  std::this_thread::sleep_for(hub::Hub::kLaggingAfter * 3);  // thread 1 does not run
  const auto fanned = fanout.on_commit({stored("v2:bob", 2, "", "b")});
  EXPECT_EQ(fanned.lagging, 0b10u);

  std::size_t seen_when_answered = 99;
  fanout.after_delivered(fanned.lagging, io_a.get_executor(),
                         [&] { seen_when_answered = on_b.received.size(); });
  EXPECT_EQ(io_a.poll(), 0u) << "held until thread 1 delivered";
  io_b.poll();
  io_a.restart();
  io_a.poll();
  EXPECT_EQ(seen_when_answered, 2u);
  hub.detach(1, "v2:bob", &on_b);
}
