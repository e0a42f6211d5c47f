#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

using namespace ssehub::store;
using ssehub::domain::ReportStatus;

namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("ssehub_store_test_" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path_);
    store_ = std::make_unique<SqliteStore>(path_.string(), std::chrono::milliseconds(1000));
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_.string() + suffix);
  }
  Report report(const std::string& user, const std::string& id, std::int64_t created) {
    return {.user_id = user, .report_id = id, .status = ReportStatus::Pending,
            .created_ms = created, .updated_ms = created};
  }
  std::filesystem::path path_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace

TEST_F(SqliteStoreTest, ListsOnlyTheUsersReportsOldestFirst) {
  store_->create(report("u1", "b", 20));
  store_->create(report("u1", "a", 10));
  store_->create(report("u2", "c", 5));
  auto reports = store_->list_by_user("u1");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].report_id, "a");
  EXPECT_EQ(reports[1].report_id, "b");
}

TEST_F(SqliteStoreTest, TransitionIsConditionalOnTheCurrentStatus) {
  store_->create(report("u1", "r", 1));
  auto first = store_->transition("u1", "r", ReportStatus::Pending, ReportStatus::Queued, 2);
  EXPECT_EQ(first.kind, TransitionOutcome::Kind::Applied);
  EXPECT_EQ(first.report.status, ReportStatus::Queued);
  auto second = store_->transition("u1", "r", ReportStatus::Pending, ReportStatus::Canceled, 3);
  EXPECT_EQ(second.kind, TransitionOutcome::Kind::Conflict);
  EXPECT_EQ(second.report.status, ReportStatus::Queued);
}

TEST_F(SqliteStoreTest, AnotherUsersReportIsNotFound) {
  store_->create(report("u1", "r", 1));
  auto outcome = store_->transition("u2", "r", ReportStatus::Pending, ReportStatus::Queued, 2);
  EXPECT_EQ(outcome.kind, TransitionOutcome::Kind::NotFound);
  EXPECT_EQ(store_->get("r")->status, ReportStatus::Pending);
}

TEST_F(SqliteStoreTest, ConcurrentTransitionsFromOneStateHaveOneWinner) {
  store_->create(report("u1", "r", 1));
  std::atomic<int> applied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto to = i % 2 ? ReportStatus::Queued : ReportStatus::Canceled;
      if (store_->transition("u1", "r", ReportStatus::Pending, to, 10 + i).kind ==
          TransitionOutcome::Kind::Applied)
        ++applied;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(applied, 1);
}

TEST_F(SqliteStoreTest, EventPendingUntilPublishedForThatVersion) {
  store_->create(report("u1", "r", 1));
  EXPECT_EQ(store_->list_event_pending().size(), 1u);
  store_->mark_event_published("r", 1);
  EXPECT_TRUE(store_->list_event_pending().empty());
  store_->transition("u1", "r", ReportStatus::Pending, ReportStatus::Queued, 2);
  store_->mark_event_published("r", 1);  // an older version: the newer change stays pending
  EXPECT_EQ(store_->list_event_pending().size(), 1u);
}
