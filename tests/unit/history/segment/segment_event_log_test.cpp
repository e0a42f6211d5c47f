// What the segment log keeps across a restart: its journal read back, a torn tail cut off,
// and compaction's snapshot read back the same as the segments it replaced.
#include "history/segment/segment_event_log.hpp"
#include "support/temp_path.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <future>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using namespace ssehub;
namespace fs = std::filesystem;

namespace {

core::EventDraft draft(std::string stream, std::string data, std::string dedupe_key = {}) {
  core::EventDraft draft;
  draft.stream = std::move(stream);
  draft.data = std::move(data);
  draft.dedupe_key = std::move(dedupe_key);
  return draft;
}

std::vector<std::uint64_t> ids_of(const history::Page& page) {
  std::vector<std::uint64_t> ids;
  for (const auto& event : page.events) ids.push_back(event->id);
  return ids;
}

std::vector<std::string> data_of(const history::Page& page) {
  std::vector<std::string> data;
  for (const auto& event : page.events) data.push_back(event->data);
  return data;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

class SegmentEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::unique_temp_path("ssehub_segment_log_test");
    fs::remove_all(dir_);
  }
  void TearDown() override {
    log_.reset();
    fs::remove_all(dir_);
  }

  history::SegmentEventLog& open(std::size_t max_events = 100, std::size_t compact_min_bytes = 1 << 30,
                                 bool sync_before_answer = false, std::size_t segment_bytes = 0) {
    log_.reset();
    history::SegmentEventLogOptions options{
            .dir = dir_.string(),
            .retention = {.max_events_per_stream = max_events,
                          .max_age = std::chrono::seconds(60),
                          .wall_clock =
                              [offset = clock_offset_] {
                                return std::chrono::system_clock::now() +
                                       std::chrono::seconds(offset->load());
                              }},
            .flush_interval = std::chrono::milliseconds::zero(),
            .compact_min_bytes = compact_min_bytes,
            .sync_before_answer = sync_before_answer,
            .segment_bytes = segment_bytes,
            .first_segment_after_bytes = 0};
    if (tweak_) tweak_(options);
    log_ = std::make_unique<history::SegmentEventLog>(std::move(options), metrics_);
    return *log_;
  }

  history::Appended append(std::vector<core::EventDraft> drafts,
                           std::vector<core::LogPosition> positions = {}) {
    return log_->append(drafts, positions);
  }

  // Waits for the group sync of everything appended so far; what failed, or empty.
  std::string sync() {
    std::promise<std::string> done;
    log_->when_synced([&](const std::string& failure) { done.set_value(failure); });
    auto future = done.get_future();
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  }

  std::string journal_bytes() const {
    std::ifstream in(only_journal(), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  fs::path only_journal() const {
    std::vector<fs::path> journals;
    for (const auto& entry : fs::directory_iterator(dir_))
      if (entry.path().filename().string().starts_with("journal-")) journals.push_back(entry.path());
    EXPECT_EQ(journals.size(), 1u);
    return journals.at(0);
  }

  fs::path dir_;
  metrics::Registry metrics_;
  std::shared_ptr<std::atomic<std::int64_t>> clock_offset_ =
      std::make_shared<std::atomic<std::int64_t>>(0);
  std::function<void(history::SegmentEventLogOptions&)> tweak_;  // applied by open()
  std::unique_ptr<history::SegmentEventLog> log_;
};

// Holds compaction's copy after its first piece until released, so that a test can append
// and drop in the middle of it.
class PieceGate {
 public:
  void operator()() {
    std::unique_lock lock(mutex_);
    if (pieces_++ != 0) return;
    held_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
  }
  void wait_until_held() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return held_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int pieces_ = 0;
  bool held_ = false;
  bool released_ = false;
};

// Writes that would take a file past `bytes` fail with EFBIG while it lives (SIGXFSZ is
// ignored meanwhile): a disk that refuses the journal's next write, for real.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{bytes, saved_.rlim_max};
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace

// With --history-sync full the syncer writes the records: until their group is synced, a
// read neither shows them nor counts their ids, so no client sees an event that a crash or a
// power loss could take back.
TEST_F(SegmentEventLogTest, WithSyncBeforeAnswerAnAppendIsNeitherReadNorWrittenUntilItsGroupSyncs) {
  open(100, 1 << 30, /*sync_before_answer=*/true);
  append({draft("v2:a", "first-payload")});
  ASSERT_EQ(sync(), "");
  append({draft("v2:a", "second-payload")});
  append({draft("v2:b", "other-stream-payload")});

  history::Page page = log_->read("v2:a", 0, {});
  EXPECT_EQ(data_of(page), (std::vector<std::string>{"first-payload"}));
  EXPECT_EQ(page.extent.last_id, 1u);
  EXPECT_FALSE(page.more);
  page = log_->read("v2:b", 0, {});
  EXPECT_TRUE(page.events.empty());
  EXPECT_EQ(page.extent.last_id, 0u);
  // Left to the syncer: not in the journal yet.
  EXPECT_NE(journal_bytes().find("first-payload"), std::string::npos);
  EXPECT_EQ(journal_bytes().find("second-payload"), std::string::npos);

  ASSERT_EQ(sync(), "");
  page = log_->read("v2:a", 0, {});
  EXPECT_EQ(data_of(page), (std::vector<std::string>{"first-payload", "second-payload"}));
  EXPECT_EQ(page.extent.last_id, 2u);
  EXPECT_EQ(data_of(log_->read("v2:b", 0, {})), (std::vector<std::string>{"other-stream-payload"}));
  EXPECT_NE(journal_bytes().find("second-payload"), std::string::npos);
  open(100, 1 << 30, true);
  EXPECT_EQ(ids_of(log_->read("v2:a", 0, {})), (std::vector<std::uint64_t>{1, 2}));
}

// A group the disk refuses is refused to its publishers with the disk's reason, and
// forgotten: no read shows it, its ids are issued again, and it is not there after a restart.
TEST_F(SegmentEventLogTest, WithSyncBeforeAnswerAGroupTheDiskRefusesIsReportedAndForgotten) {
  open(100, 1 << 30, /*sync_before_answer=*/true);
  append({draft("v2:a", "kept")});
  ASSERT_EQ(sync(), "");
  std::string failure;
  {
    FileSizeLimit limit(fs::file_size(only_journal()) + 8);
    append({draft("v2:a", "refused-" + std::string(200, 'x'))});
    append({draft("v2:b", "refused-too")});
    failure = sync();
  }
  EXPECT_NE(failure.find("File too large"), std::string::npos) << failure;
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"kept"}));
  EXPECT_EQ(journal_bytes().find("refused"), std::string::npos);

  // The next append finds the log read back from the journal: the refused ids are free.
  EXPECT_EQ(append({draft("v2:a", "after")}).ids, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(append({draft("v2:b", "after")}).ids, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(sync(), "");
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"kept", "after"}));
  open(100, 1 << 30, true);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"kept", "after"}));
  EXPECT_EQ(data_of(log_->read("v2:b", 0, {})), (std::vector<std::string>{"after"}));
}

TEST_F(SegmentEventLogTest, EventsKeysExtentsAndPositionsSurviveReopening) {
  open(3);
  auto report = draft("v3:a", "line1\nline2", "kafka:t:0:1");
  report.type = "report";
  append({report, draft("v3:a", "2"), draft("v2:b", "x")}, {{.partition = 2, .next_offset = 40}});
  append({draft("v3:a", "3"), draft("v3:a", "4")}, {{.partition = 2, .next_offset = 38}});

  open(3);
  const auto a = log_->read("v3:a", 0, {});
  EXPECT_EQ(ids_of(a), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(data_of(a), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(a.extent.trimmed_through, 1u);
  EXPECT_EQ(a.extent.last_id, 4u);
  EXPECT_EQ(data_of(log_->read("v2:b", 0, {})), (std::vector<std::string>{"x"}));
  ASSERT_EQ(log_->positions().size(), 1u);
  EXPECT_EQ(log_->positions()[0].next_offset, 40);
  // The key outlived its event (the count limit dropped it), and ids go on.
  const auto again = append({draft("v3:a", "m", "kafka:t:0:1"), draft("v3:a", "5")});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{1, 5}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0}));
}

TEST_F(SegmentEventLogTest, ATypeSurvivesReopening) {
  open();
  auto report = draft("v3:a", "body");
  report.type = "report";
  append({report});
  open();
  const auto page = log_->read("v3:a", 0, {});
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0]->type, "report");
}

TEST_F(SegmentEventLogTest, ATornLastRecordIsCutOffAndTheRecordsBeforeItKept) {
  open();
  append({draft("v2:a", "1")});
  append({draft("v2:a", "2")});
  append({draft("v2:a", "3 torn by a power loss")});
  log_.reset();
  const fs::path journal = only_journal();
  const auto whole = fs::file_size(journal);
  fs::resize_file(journal, whole - 5);

  open();
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"1", "2"}));
  // The cut leaves a whole journal: what is appended next reads back after a restart.
  EXPECT_EQ(append({draft("v2:a", "3 again")}).ids, (std::vector<std::uint64_t>{3}));
  open();
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"1", "2", "3 again"}));
}

TEST_F(SegmentEventLogTest, ARecordWhoseChecksumFailsEndsTheJournal) {
  open();
  append({draft("v2:a", "kept")});
  append({draft("v2:a", "garbled")});
  log_.reset();
  const fs::path journal = only_journal();
  {
    std::fstream file(journal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(journal)) - 2);
    file.put('#');  // inside "garbled": same length, another checksum
  }
  open();
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"kept"}));
}

TEST_F(SegmentEventLogTest, CompactionReplacesTheSegmentsWithASnapshotThatReadsBackTheSame) {
  open(3, 1);
  append({draft("v2:gone", "aged out", "key-gone")});
  clock_offset_->store(3600);  // an hour on: the first event is past the minute allowed
  for (int i = 1; i <= 5; ++i)
    append({draft("v3:a", std::to_string(i), "key-" + std::to_string(i)), draft("v2:b", "b")},
           {{.partition = 1, .next_offset = i}});
  log_->retain();  // drops the aged event, then compacts: the journal passed one byte
  log_->wait_for_compaction();
  append({draft("v2:b", "after the snapshot")});
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"journal-00000000000000000002.log",
                                                       "snapshot-00000000000000000002.log"}));

  open(3, 1);
  const auto a = log_->read("v3:a", 0, {});
  EXPECT_EQ(data_of(a), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(a.extent.trimmed_through, 2u);
  const auto b = log_->read("v2:b", 0, {});
  EXPECT_EQ(data_of(b), (std::vector<std::string>{"b", "b", "after the snapshot"}));
  EXPECT_EQ(ids_of(b), (std::vector<std::uint64_t>{4, 5, 6}));
  // A stream whose events are all gone keeps its ids: they never start over.
  const auto gone = log_->read("v2:gone", 0, {});
  EXPECT_TRUE(gone.events.empty());
  EXPECT_EQ(gone.extent.last_id, 1u);
  EXPECT_EQ(gone.extent.trimmed_through, 1u);
  ASSERT_EQ(log_->positions().size(), 1u);
  EXPECT_EQ(log_->positions()[0].next_offset, 5);
  // Keys whose events the count limit dropped are still known; the aged one is not.
  const auto again = append({draft("v3:a", "x", "key-1"), draft("v2:gone", "y", "key-gone")});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0}));
}

// Compaction copies what was kept a piece at a time while appends and drops go on. What is
// read back must be what the log held live: nothing appended after the compaction began
// twice, nothing dropped meanwhile read back as if it were whole, and a dedupe key dropped
// and then used again owned by the event that used it again.
TEST_F(SegmentEventLogTest, AppendsAndDropsInTheMiddleOfCompactionsCopyReadBackAsTheyWereLive) {
  auto gate = std::make_shared<PieceGate>();
  tweak_ = [gate](history::SegmentEventLogOptions& options) {
    options.compaction_piece = 2;
    options.between_compaction_pieces = [gate] { (*gate)(); };
  };
  open(100, 1);
  append({draft("v2:k", "k1", "K")});
  append({draft("v2:a", "a1"), draft("v2:a", "a2"), draft("v2:a", "a3")});
  clock_offset_->store(30);
  append({draft("v2:a", "a4"), draft("v2:a", "a5"), draft("v2:a", "a6")});
  log_->retain();  // nothing is a minute old yet: compaction begins, with seven entries
  gate->wait_until_held();  // it copied k1 and a1
  clock_offset_->store(70);
  log_->retain();  // k1 and a1 to a3 age out
  const auto k2 = append({draft("v2:k", "k2", "K")});
  EXPECT_TRUE(k2.stored_before.empty()) << "the key went with its entry";
  append({draft("v2:a", "a7")});
  gate->release();
  log_->wait_for_compaction();
  ASSERT_TRUE(fs::exists(dir_ / "snapshot-00000000000000000002.log"));

  const auto expect_as_live = [&](const char* when) {
    const auto a = log_->read("v2:a", 0, {});
    EXPECT_EQ(data_of(a), (std::vector<std::string>{"a4", "a5", "a6", "a7"})) << when;
    EXPECT_EQ(a.extent.trimmed_through, 3u) << when;
    EXPECT_EQ(a.extent.last_id, 7u) << when;
    const auto k = log_->read("v2:k", 0, {});
    EXPECT_EQ(data_of(k), (std::vector<std::string>{"k2"})) << when;
    EXPECT_EQ(ids_of(k), (std::vector<std::uint64_t>{2})) << when;
    EXPECT_EQ(k.extent.trimmed_through, 1u) << when;
  };
  expect_as_live("live");
  tweak_ = nullptr;
  open(100, 1);
  expect_as_live("read back");
  // The key belongs to k2, also once k1's entry (read back with the snapshot) ages out.
  log_->retain();
  const auto again = append({draft("v2:k", "k2 sent again", "K")});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0}));
}

// Compactions one after another while appends go on without pause, the copy on its own
// thread (under ThreadSanitizer in make test-tsan): every stream reads back as it was live.
TEST_F(SegmentEventLogTest, CompactionsUnderSteadyAppendsReadBackEveryStreamAsItWasLive) {
  tweak_ = [](history::SegmentEventLogOptions& options) { options.compaction_piece = 4; };
  open(20, 1);
  for (int i = 0; i < 3000; ++i) {
    const std::string stream = "v2:s" + std::to_string(i % 37);
    append({draft(stream, std::to_string(i), i % 5 == 0 ? "key-" + std::to_string(i) : "")});
    if (i % 250 == 0) log_->retain();  // starts a compaction unless one is under way
  }
  log_->wait_for_compaction();
  std::vector<history::Page> live;
  for (int s = 0; s < 37; ++s) live.push_back(log_->read("v2:s" + std::to_string(s), 0, {}));
  tweak_ = nullptr;
  open(20, 1);
  for (int s = 0; s < 37; ++s) {
    const auto back = log_->read("v2:s" + std::to_string(s), 0, {});
    EXPECT_EQ(ids_of(back), ids_of(live[s])) << s;
    EXPECT_EQ(data_of(back), data_of(live[s])) << s;
    EXPECT_EQ(back.extent.last_id, live[s].extent.last_id) << s;
    EXPECT_EQ(back.extent.trimmed_through, live[s].extent.trimmed_through) << s;
  }
  // Keys of events the count limit dropped are still known.
  EXPECT_EQ(append({draft("v2:s0", "again", "key-0")}).stored_before, (std::vector<std::size_t>{0}));
}

// A dedupe key is forgotten with its entry; an event that uses it again afterwards is a new
// event, and must read back as one (age retention is not replayed with the journal).
TEST_F(SegmentEventLogTest, AnEventThatReusesAKeyAfterItAgedOutReadsBack) {
  open();
  append({draft("v2:k", "first", "K")});
  clock_offset_->store(120);
  log_->retain();
  const auto second = append({draft("v2:k", "second", "K")});
  ASSERT_EQ(second.ids, (std::vector<std::uint64_t>{2}));
  ASSERT_TRUE(second.stored_before.empty());
  open();
  log_->retain();
  EXPECT_EQ(data_of(log_->read("v2:k", 0, {})), (std::vector<std::string>{"second"}));
  const auto again = append({draft("v2:k", "second sent again", "K")});
  EXPECT_EQ(again.ids, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(again.stored_before, (std::vector<std::size_t>{0}));
}

TEST_F(SegmentEventLogTest, ACompactionCutShortLeavesTheSegmentsToRecoverFrom) {
  open();
  append({draft("v2:a", "1")});
  log_.reset();
  // A crash while a snapshot was written leaves its temporary file, never renamed.
  std::ofstream(dir_ / "snapshot-00000000000000000002.log.tmp") << "half a snapshot";
  open();
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"1"}));
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"journal-00000000000000000001.log"}));
}

TEST_F(SegmentEventLogTest, RepeatedCompactionsKeepOneSnapshotAndOneSegment) {
  open(2, 1);
  // Each round writes more than the last snapshot holds (two events), so each compacts.
  const std::string payload(200, '.');
  for (int round = 1; round <= 3; ++round) {
    for (int i = 0; i < 3; ++i) append({draft("v2:a", std::to_string(round) + payload)});
    log_->retain();
    log_->wait_for_compaction();
  }
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"journal-00000000000000000004.log",
                                                       "snapshot-00000000000000000004.log"}));
  open(2, 1);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})),
            (std::vector<std::string>{"3" + payload, "3" + payload}));
  EXPECT_EQ(log_->read("v2:a", 0, {}).extent.last_id, 9u);
}

// Records wait for the syncer in memory: past the bound, appends are refused (and change
// nothing) until the syncer has caught up.
TEST_F(SegmentEventLogTest, WithSyncBeforeAnswerAppendsAreRefusedWhileTooMuchWaitsToBeWritten) {
  tweak_ = [](history::SegmentEventLogOptions& options) { options.max_unwritten_bytes = 1000; };
  open(1000, 1 << 30, /*sync_before_answer=*/true);
  std::size_t accepted = 0;
  std::string refusal;
  // Nobody waits for a sync, so the syncer writes nothing meanwhile.
  for (int i = 0; i < 1000 && refusal.empty(); ++i) {
    try {
      append({draft("v2:a", "waiting-" + std::to_string(i))});
      ++accepted;
    } catch (const std::exception& e) {
      refusal = e.what();
    }
  }
  ASSERT_NE(refusal.find("the disk is behind"), std::string::npos) << refusal;
  EXPECT_GT(accepted, 5u);
  EXPECT_LT(accepted, 50u);  // about 1000 bytes of records, not more

  ASSERT_EQ(sync(), "");
  EXPECT_EQ(log_->read("v2:a", 0, {}).events.size(), accepted);
  // The refused append took no id.
  EXPECT_EQ(append({draft("v2:a", "after")}).ids, (std::vector<std::uint64_t>{accepted + 1}));
}

TEST_F(SegmentEventLogTest, WithSyncBeforeAnswerAppendsAreReportedSyncedInOrderAfterAnFdatasync) {
  open(100, 1 << 30, /*sync_before_answer=*/true);
  ASSERT_TRUE(log_->syncs_in_groups());
  std::mutex mutex;
  std::condition_variable all_synced;
  std::vector<int> order;
  bool all_ok = true;
  constexpr int kAppends = 50;
  for (int i = 0; i < kAppends; ++i) {
    append({draft("v2:a", std::to_string(i))});
    log_->when_synced([&, i](const std::string& failure) {
      std::lock_guard lock(mutex);
      order.push_back(i);
      all_ok = all_ok && failure.empty();
      all_synced.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(all_synced.wait_for(lock, std::chrono::seconds(30),
                                    [&] { return order.size() == kAppends; }));
  }
  std::vector<int> expected(kAppends);
  for (int i = 0; i < kAppends; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
  EXPECT_TRUE(all_ok);
  // Every answer waited for an fdatasync; waiters that came during one share the next.
  const double syncs = metrics_.value("ssehub_history_journal_syncs_total").value_or(-1);
  EXPECT_GE(syncs, 1);
  EXPECT_LE(syncs, kAppends);
}

TEST_F(SegmentEventLogTest, WithoutSyncBeforeAnswerNothingWaitsForAnFdatasync) {
  open();
  EXPECT_FALSE(log_->syncs_in_groups());
  append({draft("v2:a", "1")});
  EXPECT_EQ(metrics_.value("ssehub_history_journal_syncs_total").value_or(-1), 0);
}

TEST_F(SegmentEventLogTest, WithFlushingOnCompactionSyncsTheSegmentItLeavesAndReadsBackTheSame) {
  {
    history::SegmentEventLog log(
        {.dir = dir_.string(), .flush_interval = std::chrono::milliseconds(50), .compact_min_bytes = 1},
        metrics_);
    std::vector<core::EventDraft> drafts{draft("v2:a", "before"), draft("v2:a", "compaction")};
    log.append(drafts, {});
    log.retain();
    log.wait_for_compaction();
    std::vector<core::EventDraft> after{draft("v2:a", "after")};
    log.append(after, {});
  }
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{"journal-00000000000000000002.log",
                                                       "snapshot-00000000000000000002.log"}));
  open();
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})),
            (std::vector<std::string>{"before", "compaction", "after"}));
}

namespace {

std::vector<fs::path> journals_in(const fs::path& dir) {
  std::vector<fs::path> journals;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().starts_with("journal-0")) journals.push_back(entry.path());
  std::sort(journals.begin(), journals.end());
  return journals;
}

}  // namespace

// Without sync_before_answer an append is copied into the journal's pages mapped into memory:
// the page cache, which a read of the file sees at once and which outlives the process.
TEST_F(SegmentEventLogTest, AnAppendIsInTheFileWhenItReturns) {
  open(1000);
  append({draft("v2:a", "first-payload")});
  EXPECT_NE(journal_bytes().find("first-payload"), std::string::npos);
  append({draft("v2:a", "second-payload")});
  const std::string live = journal_bytes();
  EXPECT_NE(live.find("second-payload"), std::string::npos);
  // The rest of the window is allocated ahead, and reads as zeros.
  EXPECT_GT(live.size(), live.find("second-payload") + 4096);
  EXPECT_EQ(live.find_first_not_of('\0', live.find("second-payload") + 14), std::string::npos);
  log_.reset();
  EXPECT_LT(fs::file_size(only_journal()), 4096u);  // a clean stop cuts the zeros
}

// Appends past the mapped window move it on; a kill -9 leaves the window's zeros at the end
// of the segment, and every append before them reads back.
TEST_F(SegmentEventLogTest, AppendsThroughSeveralMappedWindowsAllReadBackAfterACrash) {
  open(100000);
  const std::string payload(2000, 'w');
  std::vector<std::string> written;
  for (int i = 0; i < 5000; ++i) {  // about 10 MB: the 4 MiB window moves twice
    written.push_back(std::to_string(i) + payload);
    append({draft("v2:a", written.back())});
  }
  const fs::path copy = dir_.string() + "-crashed";
  fs::remove_all(copy);
  fs::copy(dir_, copy);
  EXPECT_GT(fs::file_size(only_journal()), std::size_t{10'000'000});
  log_.reset();
  fs::remove_all(dir_);
  fs::rename(copy, dir_);
  open(100000);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), written);
  EXPECT_EQ(append({draft("v2:a", "after")}).ids, (std::vector<std::uint64_t>{5001}));
  log_.reset();
  open(100000);
  EXPECT_EQ(log_->read("v2:a", 5000, {}).events.size(), 1u);
}

TEST_F(SegmentEventLogTest, AppendsMoveThroughPreparedSegmentsAndAllReadBackAfterACrash) {
  constexpr std::size_t kSegment = 4096;
  open(1000, 1 << 30, false, kSegment);
  const std::string payload(300, 'p');
  std::vector<std::string> written;
  for (int i = 0; i < 60; ++i) {
    // Each record is appended only once the next segment is ready, so every one of the
    // ~5 segments is used, and each rotation is exercised.
    ASSERT_TRUE(log_->wait_for_spare_segment(std::chrono::seconds(10)));
    written.push_back(std::to_string(i) + payload);
    append({draft("v2:a", written.back())});
  }
  const auto journals = journals_in(dir_);
  ASSERT_GE(journals.size(), 4u);
  // A prepared segment keeps its length: the records were written over its zeros.
  EXPECT_EQ(fs::file_size(journals.at(1)), kSegment);
  // No clean stop: what a kill -9 leaves (the segments with their zero tails) is read back.
  const fs::path copy = dir_.string() + "-crashed";
  fs::remove_all(copy);
  fs::copy(dir_, copy);
  log_.reset();
  fs::remove_all(dir_);
  fs::rename(copy, dir_);
  open(1000, 1 << 30, false, kSegment);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), written);
  EXPECT_EQ(append({draft("v2:a", "after")}).ids, (std::vector<std::uint64_t>{61}));
}

TEST_F(SegmentEventLogTest, ARecordTornInsideAPreparedSegmentEndsItAndTheNextAppendOverwritesIt) {
  constexpr std::size_t kSegment = 8192;
  open(1000, 1 << 30, false, kSegment);
  ASSERT_TRUE(log_->wait_for_spare_segment(std::chrono::seconds(10)));
  append({draft("v2:a", "1")});  // rotates into the prepared segment
  append({draft("v2:a", "2")});
  append({draft("v2:a", "3 torn")});
  log_.reset();
  const fs::path journal = journals_in(dir_).back();
  ASSERT_EQ(fs::file_size(journal), kSegment);
  {
    // A power loss kept part of record 3: its last bytes are zeros again.
    std::fstream file(journal, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes(kSegment, '\0');
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const std::size_t end = bytes.find_last_not_of('\0') + 1;
    file.seekp(static_cast<std::streamoff>(end - 3));
    file.write("\0\0\0", 3);
  }
  open(1000, 1 << 30, false, kSegment);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(append({draft("v2:a", "3 again")}).ids, (std::vector<std::uint64_t>{3}));
  open(1000, 1 << 30, false, kSegment);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"1", "2", "3 again"}));
}

TEST_F(SegmentEventLogTest, GarbageAfterTheZerosOfAPreparedSegmentIsNeverRead) {
  constexpr std::size_t kSegment = 8192;
  open(1000, 1 << 30, false, kSegment);
  ASSERT_TRUE(log_->wait_for_spare_segment(std::chrono::seconds(10)));
  append({draft("v2:a", "kept")});
  log_.reset();
  const fs::path journal = journals_in(dir_).back();
  {
    // A whole valid-looking record placed after a gap of zeros must not be found.
    history::SegmentEventLogOptions other{.dir = (dir_ / "other").string(),
                                          .flush_interval = std::chrono::milliseconds::zero(),
                                          .segment_bytes = 0};
    metrics::Registry registry;
    {
      history::SegmentEventLog log(other, registry);
      std::vector<core::EventDraft> drafts{draft("v2:a", "injected")};
      log.append(drafts, {});
    }
    std::ifstream in(journals_in(dir_ / "other").back(), std::ios::binary);
    const std::string record((std::istreambuf_iterator<char>(in)), {});
    std::fstream file(journal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(kSegment - record.size() - 16));
    file.write(record.data(), static_cast<std::streamsize>(record.size()));
    fs::remove_all(dir_ / "other");
  }
  open(1000, 1 << 30, false, kSegment);
  EXPECT_EQ(data_of(log_->read("v2:a", 0, {})), (std::vector<std::string>{"kept"}));
}

TEST_F(SegmentEventLogTest, OnlyALogThatSyncsBeforeEachAnswerPreparesSegmentsUnlessTold) {
  // Unset, as the server leaves it: the mode decides.
  tweak_ = [](history::SegmentEventLogOptions& options) { options.segment_bytes.reset(); };
  const auto spare = dir_ / "journal-next.tmp";

  open(1000, 1 << 30, /*sync_before_answer=*/false);
  append({draft("v2:a", "extends the journal")});
  ASSERT_TRUE(log_->wait_for_spare_segment(std::chrono::seconds(10)));
  EXPECT_FALSE(fs::exists(spare));
  // Only allocated ahead for its mapped window (no zeros written), and cut to what was
  // appended when the log stops.
  log_.reset();
  EXPECT_LT(fs::file_size(journals_in(dir_).back()), 4096u);

  open(1000, 1 << 30, /*sync_before_answer=*/true);
  ASSERT_TRUE(log_->wait_for_spare_segment(std::chrono::seconds(10)));
  append({draft("v2:a", "goes into zeros written ahead")});
  EXPECT_EQ(sync(), "");
  EXPECT_EQ(fs::file_size(journals_in(dir_).back()), std::size_t{16} << 20);
  tweak_ = nullptr;
}

TEST(SegmentGroupGathering, GathersHalfTheLastGroupAtMostAsLongAsItsSyncOnlyAfterManyCommits) {
  using std::chrono::microseconds;
  const history::SegmentEventLogOptions options{.gather_after_commits = 5,
                                                .max_gathering = microseconds(1000)};
  const auto sync = microseconds(180);
  auto gathering = [&](std::size_t commits, microseconds took) {
    const auto g = history::group_gathering(options, commits, took);
    return std::pair{std::chrono::duration_cast<microseconds>(g.at_most), g.until_waiting};
  };
  // A client with a few connections never makes a group of 5: it never waits.
  EXPECT_EQ(gathering(4, sync).first, microseconds(0));
  EXPECT_EQ(gathering(5, sync), std::pair(sync, std::size_t{2}));
  EXPECT_EQ(gathering(40, sync), std::pair(sync, std::size_t{20}));
  EXPECT_EQ(gathering(41, sync), std::pair(sync, std::size_t{20}));
  // A slow disk is not waited for twice over.
  EXPECT_EQ(gathering(40, microseconds(7000)).first, microseconds(1000));
  // A group that wrote nothing (or failed) measured no sync.
  EXPECT_EQ(gathering(40, microseconds(0)).first, microseconds(0));
  const history::SegmentEventLogOptions never{.gather_after_commits = 0};
  EXPECT_EQ(history::group_gathering(never, 40, sync).at_most, microseconds(0));
}
