// What every EventLog must do alike: one suite, run against the SQLite, memory and segment logs.
#include "history/event_log.hpp"
#include "history/memory/memory_event_log.hpp"
#include "history/segment/segment_event_log.hpp"
#include "history/sqlite/sqlite_event_log.hpp"
#include "support/temp_path.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace ssehub;
using history::EventLog;

namespace {

core::EventDraft draft(std::string stream, std::string data, std::string dedupe_key = {},
                       std::uint64_t id = 0) {
  core::EventDraft draft;
  draft.stream = std::move(stream);
  draft.data = std::move(data);
  draft.dedupe_key = std::move(dedupe_key);
  draft.id = id;
  return draft;
}

std::vector<std::uint64_t> ids_of(const std::vector<history::StoredEventPtr>& events) {
  std::vector<std::uint64_t> ids;
  for (const auto& event : events) ids.push_back(event->id);
  return ids;
}

class EventLogTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = test_support::unique_temp_path("ssehub_event_log_test");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  EventLog& open(std::size_t max_events = 100) {
    const history::Retention retention{.max_events_per_stream = max_events,
                                       .max_age = std::chrono::seconds(60),
                                       .wall_clock = [offset = clock_offset_] {
                                         return std::chrono::system_clock::now() +
                                                std::chrono::seconds(offset->load());
                                       }};
    log_.reset();
    if (std::string(GetParam()) == "Memory")
      log_ = std::make_unique<history::MemoryEventLog>(
          history::MemoryEventLogOptions{.retention = retention}, metrics_);
    else if (std::string(GetParam()) == "Segment")
      log_ = std::make_unique<history::SegmentEventLog>(
          history::SegmentEventLogOptions{.dir = (dir_ / "segments").string(),
                                          .retention = retention,
                                          .flush_interval = std::chrono::milliseconds::zero()},
          metrics_);
    else
      log_ = std::make_unique<history::SqliteEventLog>(
          history::SqliteEventLogOptions{
              .path = (dir_ / "h.db").string(), .sync_full = false, .retention = retention},
          metrics_);
    return *log_;
  }

  history::Appended append(std::vector<core::EventDraft> drafts,
                           std::vector<core::LogPosition> positions = {}) {
    return log_->append(drafts, positions);
  }

  history::Page read(const std::string& stream, std::uint64_t after_id,
                     history::PageLimit limit = {}) {
    return log_->read(stream, after_id, limit);
  }

  std::filesystem::path dir_;
  metrics::Registry metrics_;
  std::shared_ptr<std::atomic<std::int64_t>> clock_offset_ =
      std::make_shared<std::atomic<std::int64_t>>(0);
  std::unique_ptr<EventLog> log_;
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(EventLog, EventLogTest, ::testing::Values("Sqlite", "Memory", "Segment"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(EventLogTest, NumbersEachStreamOnItsOwnWithinOneBatch) {
  open();
  const auto appended =
      append({draft("v2:a", "1"), draft("v2:a", "2"), draft("v2:b", "x"), draft("v2:a", "3")});
  EXPECT_EQ(appended.ids, (std::vector<std::uint64_t>{1, 2, 1, 3}));
  EXPECT_TRUE(appended.stored_before.empty());
  EXPECT_EQ(append({draft("v2:b", "y")}).ids, (std::vector<std::uint64_t>{2}));
}

TEST_P(EventLogTest, CommittedEventsAreWhatWasPublished) {
  open();
  auto published = draft("v3:a", "line1\nline2");
  published.type = "report";
  published.accepted_at = core::SteadyClock::now() - std::chrono::seconds(3);
  const auto accepted_at = published.accepted_at;
  const auto appended = append({published});
  ASSERT_EQ(appended.committed.size(), 1u);
  const history::StoredEvent& event = *appended.committed[0];
  EXPECT_EQ(event.stream, "v3:a");
  EXPECT_EQ(event.id, 1u);
  EXPECT_EQ(event.type, "report");
  EXPECT_EQ(event.data, "line1\nline2");
  EXPECT_EQ(event.accepted_at, accepted_at);

  const auto page = read("v3:a", 0);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0]->type, "report");
  EXPECT_EQ(page.events[0]->data, "line1\nline2");
}

TEST_P(EventLogTest, DraftsWithIdsKeepThemAndRedeliveriesAreNotStoredAgain) {
  open();
  const auto first = append({draft("v2:a", "bus 5", "", 5), draft("v2:a", "bus 9", "", 9)});
  EXPECT_EQ(first.ids, (std::vector<std::uint64_t>{5, 9}));
  // The bus applies a batch again: every draft at or below the stream's last id is known.
  const auto again = append({draft("v2:a", "bus 5", "", 5), draft("v2:a", "bus 9", "", 9),
                             draft("v2:a", "bus 12", "", 12)});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{5, 9, 12}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(ids_of(again.committed), (std::vector<std::uint64_t>{12}));
  EXPECT_EQ(ids_of(read("v2:a", 0).events), (std::vector<std::uint64_t>{5, 9, 12}));
}

TEST_P(EventLogTest, ADedupeKeyIsStoredOnceInABatchAndAcrossBatches) {
  open();
  const auto first = append({draft("v3:a", "m", "kafka:t:0:1"), draft("v3:a", "m", "kafka:t:0:1"),
                             draft("v3:a", "n", "kafka:t:0:2")});
  EXPECT_EQ(first.ids, (std::vector<std::uint64_t>{1, 1, 2}));
  EXPECT_EQ(first.stored_before, (std::vector<std::size_t>{1}));
  EXPECT_EQ(ids_of(first.committed), (std::vector<std::uint64_t>{1, 2}));
  const auto again = append({draft("v3:a", "n", "kafka:t:0:2")});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(again.committed.empty());
}

TEST_P(EventLogTest, AReadReturnsTheEventsAfterAnIdWithTheStreamsExtent) {
  open();
  append({draft("v2:a", "1"), draft("v2:a", "2"), draft("v2:a", "3"), draft("v2:b", "x")});
  const auto page = read("v2:a", 1);
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(page.events[0]->stream, "v2:a");
  EXPECT_FALSE(page.more);
  EXPECT_EQ(page.extent.last_id, 3u);
  EXPECT_EQ(page.extent.trimmed_through, 0u);
  const auto unknown = read("v2:nobody", 0);
  EXPECT_TRUE(unknown.events.empty());
  EXPECT_EQ(unknown.extent.last_id, 0u);
  EXPECT_TRUE(read("v2:a", 3).events.empty());
}

TEST_P(EventLogTest, APageEndsAtItsLimitMeasuredAsAskedAndHoldsAtLeastOneEvent) {
  open();
  for (int i = 0; i < 10; ++i) append({draft("v2:a", "12345")});
  // By payload: five bytes an event, so a page of 12 bytes ends after its third event.
  auto page = read("v2:a", 0, {.max_bytes = 12});
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(page.more);
  // By the reader's measure.
  page = read("v2:a", 3,
              {.max_bytes = 250,
               .size_of = [](const history::StoredEvent&) -> std::size_t { return 100; }});
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_TRUE(page.more);
  page = read("v2:a", 8, {.max_bytes = 1});
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{9}));
  EXPECT_TRUE(page.more);
  page = read("v2:a", 9, {.max_bytes = 1});
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{10}));
  EXPECT_FALSE(page.more);
}

TEST_P(EventLogTest, TheCountLimitDropsTheOldestAndTheExtentRemembersThem) {
  open(3);
  for (int i = 1; i <= 5; ++i) append({draft("v2:a", std::to_string(i))});
  const auto page = read("v2:a", 0);
  EXPECT_EQ(ids_of(page.events), (std::vector<std::uint64_t>{3, 4, 5}));
  EXPECT_EQ(page.extent.trimmed_through, 2u);
  EXPECT_EQ(page.extent.last_id, 5u);
}

TEST_P(EventLogTest, RetainDropsEventsAndKeysPastTheAgeLimitButIdsGoOn) {
  open();
  append({draft("v3:a", "old", "kafka:t:0:1"), draft("v3:a", "old too")});
  log_->retain();
  EXPECT_EQ(read("v3:a", 0).events.size(), 2u) << "young events were dropped";

  clock_offset_->store(3600);  // an hour on: both are older than the minute allowed
  append({draft("v3:b", "young")});
  log_->retain();
  const auto page = read("v3:a", 0);
  EXPECT_TRUE(page.events.empty());
  EXPECT_EQ(page.extent.trimmed_through, 2u);
  EXPECT_EQ(page.extent.last_id, 2u);
  EXPECT_EQ(read("v3:b", 0).events.size(), 1u);
  // The key went with its event: the record is new to the log now, and numbered after.
  const auto again = append({draft("v3:a", "old", "kafka:t:0:1")});
  EXPECT_TRUE(again.stored_before.empty());
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{3}));
}

TEST_P(EventLogTest, PositionsAreStoredWithTheirEventsAndKeptAtTheHighest) {
  open();
  EXPECT_TRUE(log_->positions().empty());
  append({draft("v2:a", "1", "", 5)},
         {{.partition = 0, .next_offset = 5}, {.partition = 1, .next_offset = 3}});
  append({}, {{.partition = 0, .next_offset = 4}, {.partition = 1, .next_offset = 7}});
  const auto positions = log_->positions();
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].partition, 0);
  EXPECT_EQ(positions[0].next_offset, 5);
  EXPECT_EQ(positions[1].partition, 1);
  EXPECT_EQ(positions[1].next_offset, 7);
}

// What compaction writes out: every entry oldest first across streams, each with its event,
// or none when the count limit dropped the event and only its dedupe key is kept.
TEST(MemoryEventLogTest, EachEntryIsListedOldestFirstWithItsOwnEventOrNone) {
  metrics::Registry metrics;
  history::Retention retention;
  retention.max_events_per_stream = 2;
  history::MemoryEventLog log(history::MemoryEventLogOptions{.retention = retention}, metrics);
  std::vector<core::EventDraft> batch{draft("v3:a", "a1", "k1"), draft("v2:b", "b1"),
                                      draft("v3:a", "a2", "k2"), draft("v3:a", "a3", "k3"),
                                      draft("v2:b", "b2"),       draft("v3:a", "a4"),
                                      draft("v2:b", "b3")};
  log.append(batch, {});
  const auto boundary = log.begin_snapshot();
  std::vector<std::string> listed;
  // In pieces of three, as compaction lists them.
  for (std::uint64_t next = 0; next < boundary.entries_end;) {
    next = log.list_entries(boundary, next, 3, [&](const history::MemoryEventLog::KeptEntry& entry) {
      std::string line = entry.stream + "#" + std::to_string(entry.id) + " " + entry.dedupe_key + ":";
      if (entry.event != nullptr) {
        EXPECT_EQ((*entry.event)->id, entry.id) << line;
        line += (*entry.event)->data;
      }
      listed.push_back(line);
    });
  }
  // The count limit keeps a3 and a4 of v3:a and b2 and b3 of v2:b; the entries of the older
  // ones stay (age and the byte budget drop entries), without their events.
  EXPECT_EQ(listed, (std::vector<std::string>{"v3:a#1 k1:", "v2:b#1 :", "v3:a#2 k2:",
                                              "v3:a#3 k3:a3", "v2:b#2 :b2", "v3:a#4 :a4",
                                              "v2:b#3 :b3"}));
}

// Compaction lists a snapshot in pieces while appends and drops go on between them: it must
// list the state at its boundary, and say through which id a stream lost events meanwhile.
TEST(MemoryEventLogTest, ASnapshotListsItsBoundaryWhileAppendsAndDropsGoOn) {
  metrics::Registry metrics;
  auto clock_ms = std::make_shared<std::int64_t>(1'000'000);
  history::Retention retention;
  retention.max_age = std::chrono::seconds(60);
  retention.wall_clock = [clock_ms] {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(*clock_ms));
  };
  history::MemoryEventLog log(history::MemoryEventLogOptions{.retention = retention}, metrics);
  const auto append = [&](std::vector<core::EventDraft> drafts) { log.append(drafts, {}); };
  append({draft("v2:a", "a1"), draft("v2:a", "a2"), draft("v2:a", "a3")});
  *clock_ms += 30'000;
  append({draft("v2:a", "a4"), draft("v2:b", "b1")});
  const auto boundary = log.begin_snapshot();
  EXPECT_EQ(boundary.entries_end, 5u);
  EXPECT_EQ(boundary.streams, 2u);

  std::vector<std::string> listed;
  const auto visit = [&](const history::MemoryEventLog::KeptEntry& entry) {
    listed.push_back(entry.stream + "#" + std::to_string(entry.id) +
                     (entry.event != nullptr ? "" : " (key only)"));
  };
  std::uint64_t next = log.list_entries(boundary, 0, 1, visit);  // a1
  // Meanwhile a1 to a3 age out, and v2:a and a new stream go on.
  *clock_ms += 40'000;
  log.retain();
  append({draft("v2:a", "a5"), draft("v2:c", "c1")});
  while (next < boundary.entries_end) next = log.list_entries(boundary, next, 1, visit);
  EXPECT_EQ(listed, (std::vector<std::string>{"v2:a#1", "v2:a#4", "v2:b#1"}));

  std::map<std::string, history::StreamExtent> extents;
  for (std::size_t stream = 0; stream < boundary.streams;)
    stream = log.list_streams(boundary, stream, 1, [&](const std::string& name, history::StreamExtent extent) {
      extents[name] = extent;
    });
  ASSERT_EQ(extents.size(), 2u);  // not v2:c, which came after the boundary
  // v2:a's last id as it was at the boundary (a5 is the next journal's), trimmed through a3:
  // a1, listed before it aged out, is let go when the snapshot is read back.
  EXPECT_EQ(extents["v2:a"].last_id, 4u);
  EXPECT_EQ(extents["v2:a"].trimmed_through, 3u);
  EXPECT_EQ(extents["v2:b"].last_id, 1u);
  EXPECT_EQ(extents["v2:b"].trimmed_through, 0u);
}

TEST(SqliteEventLogTest, IdsKeysAndPositionsSurviveReopening) {
  const auto dir = test_support::unique_temp_path("ssehub_sqlite_event_log_test");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  metrics::Registry metrics;
  const history::SqliteEventLogOptions options{.path = (dir / "h.db").string()};
  {
    history::SqliteEventLog log(options, metrics);
    std::vector<core::EventDraft> drafts{draft("v3:a", "m", "kafka:t:0:1"), draft("v3:a", "n")};
    const std::vector<core::LogPosition> positions{{.partition = 2, .next_offset = 40}};
    log.append(drafts, positions);
  }
  history::SqliteEventLog log(options, metrics);
  EXPECT_EQ(log.positions().size(), 1u);
  EXPECT_EQ(log.positions().at(0).next_offset, 40);
  std::vector<core::EventDraft> drafts{draft("v3:a", "m", "kafka:t:0:1"), draft("v3:a", "o")};
  const auto appended = log.append(drafts, {});
  EXPECT_EQ(appended.ids, (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(appended.stored_before, (std::vector<std::size_t>{0}));
  std::filesystem::remove_all(dir);
}
