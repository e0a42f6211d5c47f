#pragma once

#include "store/store.hpp"

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <mutex>
#include <string>

namespace ssehub::store {

// Reports in an embedded SQLite database (WAL, fsync on commit): the default store.
// One connection behind a mutex: SQLite serialises writers anyway, and every call is short.
class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, std::chrono::milliseconds busy_timeout);

  void create(const Report& report) override;
  std::vector<Report> list_by_user(const std::string& user_id) override;
  std::optional<Report> get(const std::string& report_id) override;
  TransitionOutcome transition(const std::string& user_id, const std::string& report_id,
                               ReportStatus from, ReportStatus to,
                               std::int64_t updated_ms) override;
  void mark_event_published(const std::string& report_id, std::int64_t updated_ms) override;
  std::vector<Report> list_event_pending() override;
  bool ping() override;

 private:
  std::optional<Report> get_locked(const std::string& report_id);

  std::mutex mutex_;
  SQLite::Database db_;
};

}  // namespace ssehub::store
