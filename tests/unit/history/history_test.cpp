#include "history/history.hpp"
#include "history/memory/memory_event_log.hpp"
#include "history/segment/segment_event_log.hpp"
#include "history/sqlite/sqlite_event_log.hpp"
#include "sse/event_frames.hpp"
#include "sse/replay_page.hpp"
#include "support/temp_path.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

using namespace ssehub;

namespace {

// What a test sets: the log's options and History's, in one place.
struct Settings {
  std::string database_path;  // empty: h.db in the test's directory
  std::size_t memory_budget_bytes = std::size_t{256} << 20;
  std::size_t max_events_per_stream = 1000;
  std::chrono::seconds max_age{24 * 3600};
  std::size_t queue_limit = 65536;
  std::chrono::milliseconds trim_interval{10000};
  core::WallClock wall_clock = std::chrono::system_clock::now;
  history::IdAuthority* ids = nullptr;
};

// Keeps what history commits, framed as live streams get it.
class Committed : public history::CommitListener {
 public:
  FannedOut on_commit(std::vector<history::StoredEventPtr> events) override {
    std::lock_guard lock(mutex);
    for (auto& e : events) frames.push_back(sse::frame_live(*e));
    if (on_each_commit) on_each_commit();
    return {.deliveries = events.size() * streams_per_event, .lagging = lagging};
  }
  void after_delivered(std::uint64_t threads, boost::asio::any_io_executor then_on,
                       std::function<void()> then) override {
    if (on_after_delivered) return on_after_delivered(threads, std::move(then_on), std::move(then));
    CommitListener::after_delivered(threads, std::move(then_on), std::move(then));
  }
  std::mutex mutex;
  std::vector<core::EventPtr> frames;
  std::function<void()> on_each_commit;  // what the hub would start, such as a posted delivery
  std::size_t streams_per_event = 1;     // the streams each event goes to, as the hub reports
  std::uint64_t lagging = 0;             // the threads behind, as the hub reports
  std::function<void(std::uint64_t, boost::asio::any_io_executor, std::function<void()>)>
      on_after_delivered;  // null: the answer goes at once
};

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::unique_temp_path("ssehub_history_test");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<history::History> open(std::size_t max_events = 100) {
    return open_with({.database_path = (dir_ / "h.db").string(), .max_events_per_stream = max_events});
  }

  std::unique_ptr<history::History> open_with(Settings settings) {
    auto history = make(std::move(settings));
    history->start(listener_);
    return history;
  }

  std::unique_ptr<history::History> make(Settings settings) {
    const history::Retention retention{.max_events_per_stream = settings.max_events_per_stream,
                                       .max_age = settings.max_age,
                                       .wall_clock = settings.wall_clock};
    std::unique_ptr<history::EventLog> log;
    if (segment_ != Segment::None) {
      log = std::make_unique<history::SegmentEventLog>(
          history::SegmentEventLogOptions{
              .dir = (dir_ / "segments").string(),
              .budget_bytes = settings.memory_budget_bytes,
              .retention = retention,
              .sync_before_answer = segment_ == Segment::SyncBeforeAnswer},
          metrics_);
    } else if (in_memory_) {
      log = std::make_unique<history::MemoryEventLog>(
          history::MemoryEventLogOptions{.budget_bytes = settings.memory_budget_bytes,
                                         .retention = retention},
          metrics_);
    } else {
      if (settings.database_path.empty()) settings.database_path = (dir_ / "h.db").string();
      log = std::make_unique<history::SqliteEventLog>(
          history::SqliteEventLogOptions{
              .path = settings.database_path, .sync_full = true, .retention = retention},
          metrics_);
    }
    return std::make_unique<history::History>(
        std::move(log),
        history::HistoryOptions{.queue_limit = settings.queue_limit,
                                .trim_interval = settings.trim_interval},
        metrics_, settings.ids);
  }

  history::AppendResult append(history::History& history, const std::string& stream, const std::string& data,
                      const std::string& dedupe_key = {}) {
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = stream;
    drafts[0].data = data;
    drafts[0].dedupe_key = dedupe_key;
    std::promise<history::AppendResult> done;
    EXPECT_EQ(history.append(std::move(drafts), io_.get_executor(),
                             [&](history::AppendResult r) { done.set_value(std::move(r)); }),
              core::Admission::Queued);
    auto future = done.get_future();
    while (future.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) io_.poll();
    io_.restart();
    return future.get();
  }

  // A page as a stream gets it: framed, with the reset first.
  std::shared_ptr<sse::ReplayPage> replay(history::History& history, const std::string& stream,
                                          core::ResumePoint from,
                                          std::size_t max_bytes = SIZE_MAX) {
    std::promise<std::shared_ptr<sse::ReplayPage>> done;
    sse::read_replay_page(
        history, stream, from, io_.get_executor(),
        [&](std::shared_ptr<sse::ReplayPage> r) { done.set_value(std::move(r)); }, max_bytes);
    auto future = done.get_future();
    while (future.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) io_.poll();
    io_.restart();
    return future.get();
  }

  bool in_memory_ = false;
  enum class Segment { None, Flushed, SyncBeforeAnswer } segment_ = Segment::None;
  std::filesystem::path dir_;
  metrics::Registry metrics_;
  boost::asio::io_context io_;
  // Without work, poll() would stop the context before the writer posts its answer.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  Committed listener_;
  std::mutex& mutex_ = listener_.mutex;
  std::vector<core::EventPtr>& committed_ = listener_.frames;
};

// What every store must do alike: the tests below run against SQLite, memory, and the segment
// log with and without a group sync before the answer (which also holds back fan-out and reads).
class AnyHistoryTest : public HistoryTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    HistoryTest::SetUp();
    in_memory_ = GetParam() == "Memory";
    if (GetParam() == "Segment") segment_ = Segment::Flushed;
    if (GetParam() == "SegmentSyncBeforeAnswer") segment_ = Segment::SyncBeforeAnswer;
  }
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(History, AnyHistoryTest,
                         ::testing::Values("Sqlite", "Memory", "Segment", "SegmentSyncBeforeAnswer"),
                         [](const auto& info) { return info.param; });

TEST_P(AnyHistoryTest, IdsIncreasePerStreamIndependently) {
  auto history = open();
  EXPECT_EQ(append(*history, "v2:a", "1").ids.at(0), 1u);
  EXPECT_EQ(append(*history, "v2:a", "2").ids.at(0), 2u);
  EXPECT_EQ(append(*history, "v2:b", "x").ids.at(0), 1u);
  EXPECT_EQ(append(*history, "v2:a", "3").ids.at(0), 3u);
}

// Notes, for each event fan-out gets, how many fdatasyncs of the journal were done by then.
class SyncsSeenAtFanOut : public history::CommitListener {
 public:
  explicit SyncsSeenAtFanOut(metrics::Registry& registry) : registry_(registry) {}
  FannedOut on_commit(std::vector<history::StoredEventPtr> events) override {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < events.size(); ++i)
      syncs.push_back(registry_.value("ssehub_history_journal_syncs_total").value_or(-1));
    return {.deliveries = events.size()};
  }
  std::mutex mutex;
  std::vector<double> syncs;

 private:
  metrics::Registry& registry_;
};

// --history-sync full: a live stream gets an event only once an fdatasync covers it, so a
// power loss cannot take back what a client has seen (and give its id to another event).
TEST_F(HistoryTest, WithASyncBeforeTheAnswerFanOutGetsAnEventOnlyOnceItIsSynced) {
  segment_ = Segment::SyncBeforeAnswer;
  SyncsSeenAtFanOut listener(metrics_);
  auto history = make({});
  history->start(listener);
  for (std::size_t i = 0; i < 10; ++i) {
    const double before = metrics_.value("ssehub_history_journal_syncs_total").value_or(-1);
    ASSERT_TRUE(append(*history, "v2:a", "e" + std::to_string(i)).ok);
    std::lock_guard lock(listener.mutex);
    ASSERT_EQ(listener.syncs.size(), i + 1);
    EXPECT_GT(listener.syncs.back(), before) << "event " << i << " reached fan-out before its sync";
  }
}

TEST_P(AnyHistoryTest, CommittedEventsReachTheListenerEncoded) {
  auto history = open();
  append(*history, "v2:a", "line1\nline2");
  std::lock_guard lock(mutex_);
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0]->stream, "v2:a");
  EXPECT_EQ(committed_[0]->frame, "id: 1\ndata: line1\ndata: line2\n\n");
}

TEST_P(AnyHistoryTest, ResumeReplaysOnlyEventsAfterTheId) {
  auto history = open();
  for (int i = 1; i <= 5; ++i) append(*history, "v2:a", "m" + std::to_string(i));
  auto result = replay(*history, "v2:a", {.earliest = false, .after_id = 3});
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->reset);
  ASSERT_EQ(result->events.size(), 2u);
  EXPECT_EQ(result->events[0]->frame, "id: 4\ndata: m4\n\n");
  EXPECT_EQ(result->events[1]->id, 5u);
  EXPECT_EQ(result->last_id, 5u);
}

TEST_P(AnyHistoryTest, AReplayIsReadInPagesOfTheBytesAskedFor) {
  auto history = open();
  for (int i = 1; i <= 10; ++i) append(*history, "v2:a", "message " + std::to_string(i));
  const std::size_t frame = std::string("id: 1\ndata: message 1\n\n").size();
  std::vector<std::uint64_t> seen;
  core::ResumePoint from{.earliest = true};
  for (int pages = 1;; ++pages) {
    ASSERT_LE(pages, 4) << "pages of three events: four at most for ten";
    auto page = replay(*history, "v2:a", from, 3 * frame);
    ASSERT_TRUE(page);
    EXPECT_LE(page->events.size(), 4u);  // the page ends once it holds the bytes asked for
    for (const auto& event : page->events) seen.push_back(event->id);
    if (!page->more) break;
    EXPECT_EQ(page->last_id, page->events.back()->id);
    from = {.earliest = false, .after_id = page->last_id};
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  // However small the page, it holds an event: a replay always advances.
  auto tiny = replay(*history, "v2:a", {.earliest = false, .after_id = 4}, 1);
  ASSERT_EQ(tiny->events.size(), 1u);
  EXPECT_EQ(tiny->events[0]->id, 5u);
  EXPECT_TRUE(tiny->more);
  EXPECT_FALSE(replay(*history, "v2:a", {.earliest = false, .after_id = 9}, 1)->more);
}

TEST_P(AnyHistoryTest, EarliestReturnsEverythingRetained) {
  auto history = open();
  for (int i = 1; i <= 3; ++i) append(*history, "v2:a", "m");
  auto result = replay(*history, "v2:a", {.earliest = true});
  EXPECT_EQ(result->events.size(), 3u);
  EXPECT_FALSE(result->reset);
}

TEST_P(AnyHistoryTest, CountRetentionTrimsAndResumeFromBeforeItResets) {
  auto history = open(3);
  for (int i = 1; i <= 6; ++i) append(*history, "v2:a", "m" + std::to_string(i));
  auto result = replay(*history, "v2:a", {.earliest = false, .after_id = 1});
  ASSERT_TRUE(result->reset);
  ASSERT_EQ(result->events.size(), 4u);  // reset + ids 4..6
  EXPECT_NE(result->events[0]->frame.find("event: reset"), std::string::npos);
  EXPECT_EQ(result->events[0]->id, 3u);
  EXPECT_EQ(result->events[1]->id, 4u);
  // Resuming exactly at the trim point loses nothing, so no reset.
  auto at_cut = replay(*history, "v2:a", {.earliest = false, .after_id = 3});
  EXPECT_FALSE(at_cut->reset);
  EXPECT_EQ(at_cut->events.size(), 3u);
}

TEST_P(AnyHistoryTest, UnknownFutureIdResetsToTheStreamsLastId) {
  auto history = open();
  append(*history, "v2:a", "m");
  auto result = replay(*history, "v2:a", {.earliest = false, .after_id = 99});
  ASSERT_TRUE(result->reset);
  EXPECT_EQ(result->events.size(), 1u);
  EXPECT_EQ(result->last_id, 1u);
}

TEST_F(HistoryTest, IdsSurviveReopening) {
  {
    auto history = open();
    append(*history, "v2:a", "m1");
    append(*history, "v2:a", "m2");
    history->stop();
  }
  auto history = open();
  EXPECT_EQ(append(*history, "v2:a", "m3").ids.at(0), 3u);
  auto result = replay(*history, "v2:a", {.earliest = false, .after_id = 1});
  EXPECT_EQ(result->events.size(), 2u);
}

TEST_F(HistoryTest, QueueLimitRefusesInsteadOfGrowing) {
  auto history_ptr = make({.database_path = (dir_ / "h.db").string(), .queue_limit = 1});
  history::History& history = *history_ptr;
  // Not started: nothing drains the queue, so the second append finds it full.
  std::vector<core::EventDraft> one(1), two(1);
  one[0].stream = two[0].stream = "v2:a";
  EXPECT_EQ(history.append(std::move(one), io_.get_executor(), [](history::AppendResult) {}),
            core::Admission::Queued);
  EXPECT_EQ(history.append(std::move(two), io_.get_executor(), [](history::AppendResult) {}),
            core::Admission::QueueFull);
}

TEST_P(AnyHistoryTest, AgeRetentionDropsOldEventsAndResumeFromBeforeThemResets) {
  // The test moves the clock, so no event ages by accident while a slow (sanitized, loaded)
  // run is between two steps; the trim runs often so the test waits little.
  auto clock_offset = std::make_shared<std::atomic<std::int64_t>>(0);
  auto history = open_with({.database_path = (dir_ / "h.db").string(),
                            .max_age = std::chrono::seconds(60),
                            .trim_interval = std::chrono::milliseconds(20),
                            .wall_clock = [clock_offset] {
                              return std::chrono::system_clock::now() +
                                     std::chrono::seconds(clock_offset->load());
                            }});
  append(*history, "v2:a", "old1");
  append(*history, "v2:a", "old2");
  const auto wait_for_trim = [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several trim intervals
  };
  wait_for_trim();
  EXPECT_FALSE(replay(*history, "v2:a", {.earliest = false, .after_id = 0})->reset)
      << "events younger than max_age were dropped";

  clock_offset->store(3600);  // an hour on: both events are far older than max_age
  std::shared_ptr<sse::ReplayPage> result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    wait_for_trim();
    result = replay(*history, "v2:a", {.earliest = false, .after_id = 0});
  } while (!result->reset && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(result->reset) << "events older than max_age were not dropped";
  ASSERT_EQ(result->events.size(), 1u);  // the reset alone: both events were dropped
  EXPECT_EQ(result->events[0]->id, 2u);
  EXPECT_NE(result->events[0]->frame.find(R"("reason":"history_trimmed")"), std::string::npos);

  // Ids go on from where the dropped events left off, and the new event is kept.
  EXPECT_EQ(append(*history, "v2:a", "new").ids.at(0), 3u);
  wait_for_trim();
  auto after_cut = replay(*history, "v2:a", {.earliest = false, .after_id = 2});
  EXPECT_FALSE(after_cut->reset);
  ASSERT_EQ(after_cut->events.size(), 1u);
  EXPECT_EQ(after_cut->events[0]->id, 3u);
}

TEST_P(AnyHistoryTest, ReplayWithoutAnExecutorStillAnswers) {
  auto history = open();
  append(*history, "v2:a", "m1");
  std::promise<std::shared_ptr<history::Replay>> done;
  ASSERT_TRUE(history->replay("v2:a", {.earliest = true}, {},
                              [&](std::shared_ptr<history::Replay> r) { done.set_value(std::move(r)); }));
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto result = future.get();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->events.size(), 1u);
}

TEST_F(HistoryTest, NoReadIsLeftOpenSoCheckpointsCopyTheWholeWal) {
  // Every query the writer runs (stream lookups, dedupe keys, trims) must end its read: an
  // open one pins the WAL, which then grows without end (as it once did, by 1.6 MB/s under
  // 100 publishes/s).
  auto history = open(3);
  for (int i = 1; i <= 5; ++i) append(*history, "v2:a", "m" + std::to_string(i));
  append(*history, "v3:b", "first", "kafka:t:0:7");
  EXPECT_EQ(append(*history, "v3:b", "again", "kafka:t:0:7").ids.at(0), 1u);  // recognised
  SQLite::Database db((dir_ / "h.db").string(), SQLite::OPEN_READWRITE);
  SQLite::Statement checkpoint(db, "PRAGMA wal_checkpoint(PASSIVE)");
  ASSERT_TRUE(checkpoint.executeStep());
  const int busy = checkpoint.getColumn(0).getInt();
  const int wal_frames = checkpoint.getColumn(1).getInt();
  const int copied = checkpoint.getColumn(2).getInt();
  EXPECT_EQ(busy, 0);
  EXPECT_EQ(copied, wal_frames) << "a read transaction pins the WAL";
}

TEST_P(AnyHistoryTest, ARedeliveryIsRecognisedByItsKeyAndNotStoredAgain) {
  auto history = open();
  const auto first = append(*history, "v3:a", "m", "kafka:t:0:1");
  EXPECT_EQ(first.already_stored, 0u);
  const auto again = append(*history, "v3:a", "m", "kafka:t:0:1");
  EXPECT_EQ(again.ids.at(0), first.ids.at(0));
  EXPECT_EQ(again.already_stored, 1u);
  EXPECT_EQ(replay(*history, "v3:a", {.earliest = true})->events.size(), 1u);
  std::lock_guard lock(mutex_);
  EXPECT_EQ(committed_.size(), 1u);  // streams got it once
}

namespace {

// A cluster bus as history sees it: it issued ids up to `issued_through` on every stream.
class IssuedThrough : public history::IdAuthority {
 public:
  explicit IssuedThrough(std::uint64_t issued_through) : issued_through_(issued_through) {}
  bool may_have_issued(const std::string& stream, std::uint64_t id) override {
    EXPECT_EQ(stream, "v2:a");
    asked.fetch_add(1);
    return id <= issued_through_;
  }
  std::atomic<int> asked{0};

 private:
  std::uint64_t issued_through_;
};

}  // namespace

TEST_P(AnyHistoryTest, AResumePastTheEndWaitsOnlyForAnIdTheAuthorityMayHaveIssued) {
  IssuedThrough bus(10);
  auto history = open_with({.database_path = (dir_ / "h.db").string(), .ids = &bus});
  append(*history, "v2:a", "m");
  // Issued elsewhere, not applied here yet: the live stream brings it, so no reset.
  auto waiting = replay(*history, "v2:a", {.earliest = false, .after_id = 7});
  EXPECT_FALSE(waiting->reset);
  EXPECT_TRUE(waiting->events.empty());
  EXPECT_EQ(waiting->last_id, 7u);
  EXPECT_FALSE(waiting->more);
  // Never issued: reset, as on a single node.
  auto never = replay(*history, "v2:a", {.earliest = false, .after_id = 11});
  ASSERT_TRUE(never->reset);
  ASSERT_EQ(never->events.size(), 1u);
  EXPECT_NE(never->events[0]->frame.find(R"("reason":"unknown_id")"), std::string::npos);
  EXPECT_EQ(never->last_id, 1u);
  EXPECT_EQ(bus.asked.load(), 2);
  // Ids history has are served without asking.
  EXPECT_EQ(replay(*history, "v2:a", {.earliest = false, .after_id = 0})->events.size(), 1u);
  EXPECT_EQ(replay(*history, "v2:a", {.earliest = true})->events.size(), 1u);
  EXPECT_EQ(bus.asked.load(), 2);
}

// An authority that takes its time (a broker that does not answer) until the test decides.
class UndecidedAuthority : public history::IdAuthority {
 public:
  bool may_have_issued(const std::string&, std::uint64_t) override {
    asked_on = std::this_thread::get_id();
    std::unique_lock lock(mutex_);
    decided_.wait(lock, [&] { return answer_.has_value(); });
    return *answer_;
  }
  void decide(bool answer) {
    {
      std::lock_guard lock(mutex_);
      if (!answer_) answer_ = answer;
    }
    decided_.notify_all();
  }
  bool has_decided() {
    std::lock_guard lock(mutex_);
    return answer_.has_value();
  }
  std::atomic<std::thread::id> asked_on{};

 private:
  std::mutex mutex_;
  std::condition_variable decided_;
  std::optional<bool> answer_;
};

// The caller is an I/O thread: whichever thread runs the log, a replay that must ask the
// authority returns before it has decided, and is answered once it has.
TEST_P(AnyHistoryTest, AReplayAskingTheAuthorityNeverWaitsOnTheCallersThread) {
  UndecidedAuthority bus;
  auto history = open_with({.database_path = (dir_ / "h.db").string(), .ids = &bus});
  append(*history, "v2:a", "m");
  std::atomic<bool> returned{false};
  // Decides once replay() has returned, or after 10 s if it waits for the decision itself.
  std::thread valve([&] {
    for (int i = 0; i < 1000 && !returned; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    bus.decide(true);
  });
  std::promise<std::shared_ptr<history::Replay>> done;
  const bool queued = history->replay(
      "v2:a", {.earliest = false, .after_id = 7}, io_.get_executor(),
      [&](std::shared_ptr<history::Replay> r) { done.set_value(std::move(r)); });
  const bool decided_before_return = bus.has_decided();
  returned = true;
  valve.join();
  EXPECT_TRUE(queued);
  EXPECT_FALSE(decided_before_return) << "replay() waited for the authority on the caller's thread";
  auto future = done.get_future();
  while (future.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) io_.poll();
  io_.restart();
  EXPECT_NE(bus.asked_on.load(), std::this_thread::get_id());
  const auto waiting = future.get();
  ASSERT_TRUE(waiting);
  EXPECT_FALSE(waiting->reset);
  EXPECT_TRUE(waiting->events.empty());
  EXPECT_EQ(waiting->last_id, 7u);
}

// What only the memory store does.
class HistoryInMemoryTest : public HistoryTest {
 protected:
  void SetUp() override {
    HistoryTest::SetUp();
    in_memory_ = true;
  }
};

TEST_F(HistoryInMemoryTest, ByteBudgetDropsTheOldestEventsOfAnyStreamFirst) {
  const std::string kilobyte(1024, 'k');
  auto history = open_with({.memory_budget_bytes = 16 * 1024, .max_events_per_stream = 1000});
  for (int i = 0; i < 40; ++i) append(*history, i % 2 == 0 ? "v2:a" : "v2:b", kilobyte);
  EXPECT_LE(metrics_.value("ssehub_history_memory_bytes"), 16 * 1024);
  EXPECT_GT(metrics_.value("ssehub_history_memory_bytes"), 8 * 1024);

  auto a = replay(*history, "v2:a", {.earliest = false, .after_id = 0});
  ASSERT_TRUE(a->reset) << "the oldest events of v2:a were dropped";
  EXPECT_NE(a->events[0]->frame.find(R"("reason":"history_trimmed")"), std::string::npos);
  const std::uint64_t kept_from = a->events[0]->id + 1;
  EXPECT_GT(kept_from, 1u);
  ASSERT_GT(a->events.size(), 1u) << "the newest events were kept";
  EXPECT_EQ(a->events[1]->id, kept_from);
  EXPECT_EQ(a->last_id, 20u);
  auto b = replay(*history, "v2:b", {.earliest = false, .after_id = 0});
  ASSERT_TRUE(b->reset);
  EXPECT_EQ(b->last_id, 20u);

  // Ids go on, and a resume from what is kept loses nothing.
  EXPECT_EQ(append(*history, "v2:a", "next").ids.at(0), 21u);
  auto recent = replay(*history, "v2:a", {.earliest = false, .after_id = 19});
  EXPECT_FALSE(recent->reset);
  ASSERT_EQ(recent->events.size(), 2u);
  EXPECT_EQ(recent->events[1]->frame, "id: 21\ndata: next\n\n");
}

TEST_F(HistoryInMemoryTest, NothingIsWrittenToTheDataDir) {
  auto history = open();
  append(*history, "v2:a", "m");
  history->stop();
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

// The committing thread's own streams get an event before its publisher gets the answer:
// the hub posts their delivery, and the answer is queued behind it. Given in place, the
// answer would let the client send its next request before the event is written.
TEST_F(HistoryInMemoryTest, APublisherOnItsExecutorsThreadIsAnsweredAfterThatThreadsDeliveries) {
  auto history = open();
  std::vector<std::string> order;
  listener_.on_each_commit = [&] { boost::asio::post(io_, [&] { order.push_back("delivered"); }); };
  bool answered_inside = false;
  std::optional<history::AppendResult> answer;
  boost::asio::post(io_, [&] {
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = "v2:a";
    history->append(std::move(drafts), io_.get_executor(), [&](history::AppendResult result) {
      order.push_back("answered");
      answer = std::move(result);
    });
    answered_inside = answer.has_value();
  });
  io_.poll();
  io_.restart();
  EXPECT_FALSE(answered_inside) << "answered in place, ahead of the thread's own deliveries";
  ASSERT_TRUE(answer && answer->ok);
  EXPECT_EQ(answer->ids, std::vector<std::uint64_t>{1});
  EXPECT_EQ(order, (std::vector<std::string>{"delivered", "answered"}));
}

// A commit that goes to many streams (one user's thousands of tabs) is answered first: behind
// that many writes, its publishers would wait milliseconds for the answer.
TEST_F(HistoryInMemoryTest, ACommitWithManyDeliveriesIsAnsweredBeforeThem) {
  auto history = open();
  listener_.streams_per_event = 10'000;
  std::vector<std::string> order;
  listener_.on_each_commit = [&] { boost::asio::post(io_, [&] { order.push_back("delivered"); }); };
  bool answered_inside = false;
  boost::asio::post(io_, [&] {
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = "v2:a";
    history->append(std::move(drafts), io_.get_executor(),
                    [&](history::AppendResult) { order.push_back("answered"); });
    answered_inside = !order.empty();
  });
  io_.poll();
  io_.restart();
  EXPECT_TRUE(answered_inside) << "queued behind 10,000 deliveries";
  EXPECT_EQ(order, (std::vector<std::string>{"answered", "delivered"}));
}

// When fan-out reports a thread behind, the answer goes through the listener, which holds it
// until that thread delivered: the publisher's next publish waits instead of piling up.
TEST_F(HistoryInMemoryTest, AnAnswerWaitsThroughTheListenerForAThreadThatIsBehind) {
  auto history = open();
  listener_.lagging = 0b10;
  std::uint64_t waited_for = 0;
  std::function<void()> held;
  listener_.on_after_delivered = [&](std::uint64_t threads, boost::asio::any_io_executor,
                                     std::function<void()> then) {
    waited_for = threads;
    held = std::move(then);
  };
  // Publishes once and runs what the I/O thread has queued, without waiting for the answer.
  std::optional<history::AppendResult> answer;
  auto publish = [&] {
    answer.reset();
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = "v2:a";
    history->append(std::move(drafts), io_.get_executor(),
                    [&](history::AppendResult result) { answer = std::move(result); });
    io_.poll();
    io_.restart();
  };
  publish();
  EXPECT_EQ(waited_for, 0b10u);
  EXPECT_FALSE(answer) << "answered before the thread behind delivered";
  ASSERT_TRUE(held);
  held();
  ASSERT_TRUE(answer && answer->ok);
  EXPECT_EQ(answer->ids, std::vector<std::uint64_t>{1});

  // Nobody behind: answered without the listener.
  listener_.lagging = 0;
  waited_for = 0;
  publish();
  EXPECT_EQ(waited_for, 0u);
  EXPECT_TRUE(answer && answer->ok);
}

TEST_F(HistoryInMemoryTest, AnswersGoToTheExecutorAndNothingIsAcceptedAfterStop) {
  auto history = open();
  bool answered = false;
  std::vector<core::EventDraft> drafts(1);
  drafts[0].stream = "v2:a";
  ASSERT_EQ(history->append(std::move(drafts), io_.get_executor(),
                            [&](history::AppendResult) { answered = true; }),
            core::Admission::Queued);
  EXPECT_FALSE(answered) << "an answer for another thread must not run inside append()";
  io_.poll();
  io_.restart();
  EXPECT_TRUE(answered);

  history->stop();
  std::vector<core::EventDraft> late(1);
  late[0].stream = "v2:a";
  EXPECT_EQ(history->append(std::move(late), io_.get_executor(), [](history::AppendResult) {}),
            core::Admission::Stopped);
  EXPECT_FALSE(history->replay("v2:a", {.earliest = true}, io_.get_executor(), [](auto) {}));
}

namespace {

// Holds the first commit's fan-out (and so history's commit) until released.
class HeldCommits : public history::CommitListener {
 public:
  FannedOut on_commit(std::vector<history::StoredEventPtr> events) override {
    std::unique_lock lock(mutex);
    batches.push_back(events.size());
    if (batches.size() == 1) {
      holding = true;
      changed.notify_all();
      changed.wait(lock, [&] { return released; });
    }
    return {.deliveries = events.size()};
  }
  void release() {
    std::lock_guard lock(mutex);
    released = true;
    changed.notify_all();
  }
  std::mutex mutex;
  std::condition_variable changed;
  bool holding = false, released = false;
  std::vector<std::size_t> batches;  // events per commit
};

}  // namespace

TEST_F(HistoryInMemoryTest, APublishDuringAnotherCommitIsQueuedAndCommittedWithOthersInOne) {
  HeldCommits listener;
  auto history = make({});
  history->start(listener);
  const auto publish = [&](std::vector<std::string> streams, std::vector<std::uint64_t>& ids) {
    std::vector<core::EventDraft> drafts(streams.size());
    for (std::size_t i = 0; i < streams.size(); ++i) drafts[i].stream = streams[i];
    return history->append(std::move(drafts), io_.get_executor(),
                           [&ids](history::AppendResult result) { ids = result.ids; });
  };
  std::vector<std::uint64_t> first_ids, second_ids, third_ids;
  std::thread committing([&] { publish({"v2:a"}, first_ids); });
  {
    std::unique_lock lock(listener.mutex);
    listener.changed.wait(lock, [&] { return listener.holding; });
  }
  // Released after 10 s if a publish below waits for the commit under way itself.
  std::atomic<bool> returned{false};
  std::thread valve([&] {
    for (int i = 0; i < 1000 && !returned; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    listener.release();
  });
  EXPECT_EQ(publish({"v2:a", "v2:b"}, second_ids), core::Admission::Queued);
  EXPECT_EQ(publish({"v2:a"}, third_ids), core::Admission::Queued);
  bool released_before_return = false;
  {
    std::lock_guard lock(listener.mutex);
    released_before_return = listener.released;
  }
  returned = true;
  valve.join();
  committing.join();
  EXPECT_FALSE(released_before_return) << "a publish waited for another's commit";

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (third_ids.empty() && std::chrono::steady_clock::now() < deadline)
    io_.run_one_for(std::chrono::milliseconds(10));
  EXPECT_EQ(first_ids, std::vector<std::uint64_t>({1}));
  EXPECT_EQ(second_ids, std::vector<std::uint64_t>({2, 1}));
  EXPECT_EQ(third_ids, std::vector<std::uint64_t>({3}));
  // The committing thread took both queued publishes in one commit before letting go.
  EXPECT_EQ(listener.batches, std::vector<std::size_t>({1, 3}));
  EXPECT_EQ(metrics_.value("ssehub_history_commits_total"), 2);
  history->stop();
}

// A cluster bus (or Kafka ingestion) stores positions alone when it skipped every record of a
// batch: such an append, queued during another commit, must not be taken for an empty queue.
TEST_F(HistoryInMemoryTest, AnAppendOfPositionsAloneQueuedDuringACommitIsAnswered) {
  HeldCommits listener;
  auto history = make({});
  history->start(listener);
  std::thread committing([&] {
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = "v2:a";
    history->append(std::move(drafts), {}, [](history::AppendResult) {});
  });
  {
    std::unique_lock lock(listener.mutex);
    listener.changed.wait(lock, [&] { return listener.holding; });
  }
  std::optional<history::AppendResult> answer;
  EXPECT_EQ(history->append({}, io_.get_executor(),
                            [&](history::AppendResult result) { answer = std::move(result); },
                            {{.partition = 0, .next_offset = 7}}),
            core::Admission::Queued);
  listener.release();
  committing.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!answer && std::chrono::steady_clock::now() < deadline)
    io_.run_one_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(answer) << "left in the queue once the committing thread let go";
  EXPECT_TRUE(answer->ok);
  EXPECT_TRUE(answer->ids.empty());
  history->stop();
}

// Publishes queued for a committing thread are bounded like the writer thread's queue: past
// --history-queue-limit drafts, a publish is refused (503 "overloaded"), not queued.
TEST_F(HistoryInMemoryTest, PublishesQueuedDuringACommitAreBoundedByTheQueueLimit) {
  HeldCommits listener;
  auto history = make({.queue_limit = 2});
  history->start(listener);
  std::thread committing([&] {
    std::vector<core::EventDraft> drafts(1);
    drafts[0].stream = "v2:a";
    history->append(std::move(drafts), {}, [](history::AppendResult) {});
  });
  {
    std::unique_lock lock(listener.mutex);
    listener.changed.wait(lock, [&] { return listener.holding; });
  }
  std::size_t answered = 0;
  const auto publish = [&](std::size_t drafts) {
    std::vector<core::EventDraft> batch(drafts);
    for (auto& draft : batch) draft.stream = "v2:b";
    return history->append(std::move(batch), io_.get_executor(),
                           [&](history::AppendResult result) { answered += result.ok; });
  };
  EXPECT_EQ(publish(2), core::Admission::Queued);
  EXPECT_EQ(publish(1), core::Admission::QueueFull);
  listener.release();
  committing.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (answered < 1 && std::chrono::steady_clock::now() < deadline)
    io_.run_one_for(std::chrono::milliseconds(10));
  EXPECT_EQ(answered, 1u);
  // Once the queue drained, publishes are taken again.
  EXPECT_EQ(publish(1), core::Admission::Queued);
  history->stop();
}
