// History and hub together under real threads, for ThreadSanitizer (`make test-tsan`) as
// much as for the asserts: several threads append while streams attach and resume the way
// StreamSession does (attach first, then the replay read in small pages and merged with the
// live events by sse::ResumeMerge, whose held bytes are kept small so that it drops and
// re-reads). A resumed stream must see every id after its resume point exactly once, in order.
#include "history/history.hpp"
#include "history/memory/memory_event_log.hpp"
#include "history/sqlite/sqlite_event_log.hpp"
#include "hub/hub.hpp"
#include "sse/fanout.hpp"
#include "sse/replay_page.hpp"
#include "sse/resume_merge.hpp"
#include "support/io_threads.hpp"
#include "support/temp_path.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace ssehub;
using ssehub::test_support::IoThreads;

namespace {

constexpr unsigned kStreams = 4;
constexpr std::size_t kPageBytes = 160;  // a few events a page
constexpr std::size_t kHeldBytes = 120;  // a few live events before the merge drops them
std::string stream_name(unsigned i) { return "v2:resumer" + std::to_string(i); }
// Live events dropped by any merge so far: publishing goes on until the load has dropped some,
// however fast this machine makes replays.
std::atomic<std::size_t> drops_seen{0};
// Pages asked for by every replay so far: opening goes on until the load has paged replays,
// however fast this machine makes them.
std::atomic<std::size_t> pages_asked{0};

// Lives on one I/O thread; every call below happens there.
class ResumingSubscriber : public hub::Subscriber {
 public:
  ResumingSubscriber(unsigned index, std::uint64_t after_id, history::History& history,
                     boost::asio::any_io_executor executor)
      : index(index),
        stream(stream_name(index)),
        after_id(after_id),
        next_expected(after_id + 1),
        merge(after_id, kHeldBytes),
        history(history),
        executor(std::move(executor)) {}

  void enqueue(const core::EventPtr& event) override {
    if (!merge.done()) {
      if (merge.on_live(event) == sse::ResumeMerge::Live::Dropped) ++drops, drops_seen.fetch_add(1);
      return;
    }
    accept(event);
  }
  void flush() override {}
  void tick(core::SteadyClock::time_point) override {}
  void shutdown() override {}

  void request(core::ResumePoint from) {
    ++pages;
    pages_asked.fetch_add(1);
    if (!sse::read_replay_page(
            history, stream, from, executor,
            [this](std::shared_ptr<sse::ReplayPage> page) { on_page(page); }, kPageBytes))
      failed = true;
  }

  void on_page(const std::shared_ptr<sse::ReplayPage>& page) {
    if (!page) {
      failed = true;
      return;
    }
    if (page->reset) ++problems;
    auto step = merge.on_page(*page);
    for (const auto& event : step.send) accept(event);
    if (step.next_page) request(*step.next_page);
  }

  void accept(const core::EventPtr& event) {
    if (event->id < next_expected) return;  // the replay had it already
    if (event->id != next_expected) ++problems;
    next_expected = event->id + 1;
  }

  const unsigned index;
  const std::string stream;
  const std::uint64_t after_id;
  std::uint64_t next_expected;
  sse::ResumeMerge merge;
  history::History& history;
  boost::asio::any_io_executor executor;
  bool failed = false;
  std::size_t problems = 0;  // gaps, repeats, resets
  std::size_t pages = 0, drops = 0;
};

}  // namespace

// Both stores: SQLite (appends cross to the writer thread) and memory (appends run on the
// publishing thread under History's lock).
class HistoryStressTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(History, HistoryStressTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Memory" : "Sqlite"; });

TEST_P(HistoryStressTest, ResumingWhileSeveralThreadsPublishMissesNothing) {
  const auto dir = test_support::unique_temp_path("ssehub_history_stress");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  constexpr unsigned kIoThreads = 2, kPublishers = 3, kAppendsPerPublisher = 600;
  constexpr std::size_t kMinResumersPerThread = 30, kMaxResumersPerThread = 150;
  IoThreads io(kIoThreads);
  metrics::Registry metrics;
  hub::Hub hub(io.contexts(), {.max_streams_per_user = 100000, .max_streams = 0}, metrics);
  const history::Retention retention{.max_events_per_stream = 1000000};
  std::unique_ptr<history::EventLog> log;
  if (GetParam())
    log = std::make_unique<history::MemoryEventLog>(
        history::MemoryEventLogOptions{.retention = retention}, metrics);
  else
    log = std::make_unique<history::SqliteEventLog>(
        history::SqliteEventLogOptions{
            .path = (dir / "h.db").string(), .sync_full = false, .retention = retention},
        metrics);
  sse::Fanout fanout(hub);
  history::History history(std::move(log), {.trim_interval = std::chrono::milliseconds(20)},
                           metrics);
  history.start(fanout);

  // Ids every append was given, per stream; and the highest one acknowledged so far.
  std::mutex ids_mutex;
  std::vector<std::set<std::uint64_t>> acked(kStreams);
  std::array<std::atomic<std::uint64_t>, kStreams> highest{};
  std::atomic<std::size_t> appends_done{0};
  drops_seen = 0;
  pages_asked = 0;

  std::vector<std::thread> publishers;
  for (unsigned p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      std::mt19937 random(p);
      for (unsigned i = 0; i < kAppendsPerPublisher || (drops_seen.load() == 0 && i < 20 * kAppendsPerPublisher);
           ++i) {
        // Past the planned load, at a pace no history queue can fall behind.
        if (i >= kAppendsPerPublisher) std::this_thread::sleep_for(std::chrono::microseconds(500));
        const unsigned s = random() % kStreams;
        std::vector<core::EventDraft> drafts(1 + random() % 3);
        for (auto& draft : drafts) {
          draft.stream = stream_name(s);
          draft.data = "from " + std::to_string(p);
        }
        // No executor: `done` runs on the writer thread (in memory: on this one).
        const auto admission = history.append(std::move(drafts), {}, [&, s](history::AppendResult result) {
          EXPECT_TRUE(result.ok) << result.error;
          std::lock_guard lock(ids_mutex);
          for (std::uint64_t id : result.ids) {
            EXPECT_TRUE(acked[s].insert(id).second) << "id " << id << " given twice";
            if (id > highest[s].load()) highest[s].store(id);
          }
          appends_done.fetch_add(1);
        });
        ASSERT_EQ(admission, core::Admission::Queued);
        if (i % 16 == 0) std::this_thread::yield();
      }
    });
  }

  // Each I/O thread keeps opening resuming streams, from ids already acknowledged.
  // Past the planned load (bounded), until the self-checks below can hold: a resumer opened
  // once publishing is over pages through a long backlog.
  std::atomic<bool> publishing{true};
  std::atomic<std::size_t> opened_so_far{0};
  const auto load_unmet = [&] {
    return drops_seen.load() == 0 || pages_asked.load() <= 2 * opened_so_far.load();
  };
  std::vector<std::vector<std::unique_ptr<ResumingSubscriber>>> resumers(kIoThreads);
  const auto replays_done = [&](unsigned t) {
    bool done = true;
    io.run_on(t, [&] {
      for (auto& subscriber : resumers[t]) done = done && (subscriber->merge.done() || subscriber->failed);
    });
    return done;
  };
  std::vector<std::thread> openers;
  for (unsigned t = 0; t < kIoThreads; ++t) {
    openers.emplace_back([&, t] {
      std::mt19937 random(50 + t);
      while ((publishing.load() || resumers[t].size() < kMinResumersPerThread || load_unmet()) &&
             (resumers[t].size() < kMaxResumersPerThread ||
              (load_unmet() && resumers[t].size() < 4 * kMaxResumersPerThread))) {
        // Once publishing is over, one resumer at a time, each to its end: the pages it asks
        // for are counted before deciding on another, so a slow machine opens only a few more.
        while (!publishing.load() && !replays_done(t))
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        opened_so_far.fetch_add(1);
        const unsigned s = random() % kStreams;
        const std::uint64_t top = highest[s].load();
        const std::uint64_t after = top == 0 ? 0 : random() % (top + 1);
        io.run_on(t, [&, s, after, t] {
          auto subscriber =
              std::make_unique<ResumingSubscriber>(s, after, history, io.context(t).get_executor());
          ResumingSubscriber* raw = subscriber.get();
          ASSERT_EQ(hub.attach(t, raw->stream, raw), hub::Hub::Admission::Admitted);
          raw->request({.earliest = false, .after_id = after});
          resumers[t].push_back(std::move(subscriber));
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }

  for (auto& thread : publishers) thread.join();
  publishing = false;
  for (auto& thread : openers) thread.join();
  // Every replay reaches its end (pages are asked for from the I/O threads, so history must
  // still run), then every append is committed, handed to the hub and delivered.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (bool all_done = false; !all_done && std::chrono::steady_clock::now() < deadline;) {
    all_done = true;
    for (unsigned t = 0; t < kIoThreads; ++t) all_done = replays_done(t) && all_done;
    if (!all_done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  history.stop();
  io.drain();

  std::size_t total = 0;
  for (unsigned s = 0; s < kStreams; ++s) {
    ASSERT_FALSE(acked[s].empty());
    EXPECT_EQ(*acked[s].begin(), 1u);
    EXPECT_EQ(*acked[s].rbegin(), acked[s].size()) << "ids of " << stream_name(s) << " have gaps";
    total += acked[s].size();
  }
  EXPECT_EQ(metrics.value("ssehub_events_accepted_total"), total);

  std::size_t opened = 0, pages = 0, drops = 0;
  for (unsigned t = 0; t < kIoThreads; ++t) {
    io.run_on(t, [&] {
      for (auto& subscriber : resumers[t]) {
        const unsigned s = subscriber->index;
        EXPECT_TRUE(subscriber->merge.done() && !subscriber->failed);
        pages += subscriber->pages;
        drops += subscriber->drops;
        EXPECT_EQ(subscriber->problems, 0u) << subscriber->stream << " from " << subscriber->after_id;
        EXPECT_EQ(subscriber->next_expected, acked[s].size() + 1)
            << subscriber->stream << " resumed after " << subscriber->after_id;
        hub.detach(t, subscriber->stream, subscriber.get());
        ++opened;
      }
    });
  }
  EXPECT_GT(opened, 0u);
  // The load really paged replays and dropped live events to read them again.
  EXPECT_GT(pages, 2 * opened);
  EXPECT_GT(drops, 0u);
  EXPECT_EQ(hub.streams_open(), 0u);
  io.stop();
  std::filesystem::remove_all(dir);
}
