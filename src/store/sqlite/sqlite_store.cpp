#include "store/sqlite/sqlite_store.hpp"


#include <SQLiteCpp/SQLiteCpp.h>

namespace ssehub::store {

namespace {

constexpr const char* kColumns = "report_id, user_id, status, created_ms, updated_ms";

Report report_from_row(SQLite::Statement& row) {
  Report report;
  report.report_id = row.getColumn(0).getString();
  report.user_id = row.getColumn(1).getString();
  report.status =
      domain::parse_status(row.getColumn(2).getString()).value_or(ReportStatus::Pending);
  report.created_ms = row.getColumn(3).getInt64();
  report.updated_ms = row.getColumn(4).getInt64();
  return report;
}

// Every SQLite failure here is the store being unusable (disk full, read-only, corrupt).
template <typename Fn>
auto guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    throw StoreUnavailable(std::string("SQLite report store failed: ") + e.what());
  }
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, std::chrono::milliseconds busy_timeout)
    : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
          static_cast<int>(busy_timeout.count())) {
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=FULL");  // a 201/200 means the report survives power loss
  db_.exec(
      "CREATE TABLE IF NOT EXISTS reports ("
      "  report_id TEXT PRIMARY KEY,"
      "  user_id TEXT NOT NULL,"
      "  status TEXT NOT NULL,"
      "  created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  event_pending INTEGER NOT NULL DEFAULT 1"
      ") WITHOUT ROWID");
  db_.exec("CREATE INDEX IF NOT EXISTS reports_by_user ON reports (user_id, created_ms, report_id)");
  db_.exec("CREATE INDEX IF NOT EXISTS reports_event_pending ON reports (event_pending) WHERE event_pending = 1");
}

void SqliteStore::create(const Report& report) {
  std::lock_guard lock(mutex_);
  guarded([&] {
    SQLite::Statement insert(db_,
                             "INSERT INTO reports (report_id, user_id, status, created_ms, "
                             "updated_ms, event_pending) VALUES (?, ?, ?, ?, ?, 1)");
    insert.bind(1, report.report_id);
    insert.bind(2, report.user_id);
    insert.bind(3, std::string(domain::to_string(report.status)));
    insert.bind(4, report.created_ms);
    insert.bind(5, report.updated_ms);
    insert.exec();
  });
}

std::vector<Report> SqliteStore::list_by_user(const std::string& user_id) {
  std::lock_guard lock(mutex_);
  return guarded([&] {
    std::vector<Report> reports;
    SQLite::Statement query(db_, std::string("SELECT ") + kColumns +
                                     " FROM reports WHERE user_id = ? ORDER BY created_ms, report_id");
    query.bind(1, user_id);
    while (query.executeStep()) reports.push_back(report_from_row(query));
    return reports;
  });
}

std::optional<Report> SqliteStore::get_locked(const std::string& report_id) {
  SQLite::Statement query(db_, std::string("SELECT ") + kColumns + " FROM reports WHERE report_id = ?");
  query.bind(1, report_id);
  if (!query.executeStep()) return std::nullopt;
  return report_from_row(query);
}

std::optional<Report> SqliteStore::get(const std::string& report_id) {
  std::lock_guard lock(mutex_);
  return guarded([&] { return get_locked(report_id); });
}

TransitionOutcome SqliteStore::transition(const std::string& user_id, const std::string& report_id,
                                          ReportStatus from, ReportStatus to,
                                          std::int64_t updated_ms) {
  std::lock_guard lock(mutex_);
  return guarded([&] {
    SQLite::Statement update(db_,
                             "UPDATE reports SET status = ?, updated_ms = ?, event_pending = 1 "
                             "WHERE report_id = ? AND user_id = ? AND status = ?");
    update.bind(1, std::string(domain::to_string(to)));
    update.bind(2, updated_ms);
    update.bind(3, report_id);
    update.bind(4, user_id);
    update.bind(5, std::string(domain::to_string(from)));
    const bool applied = update.exec() == 1;
    TransitionOutcome outcome;
    auto current = get_locked(report_id);
    if (!current || current->user_id != user_id) {
      outcome.kind = TransitionOutcome::Kind::NotFound;
      return outcome;
    }
    outcome.kind = applied ? TransitionOutcome::Kind::Applied : TransitionOutcome::Kind::Conflict;
    outcome.report = std::move(*current);
    return outcome;
  });
}

void SqliteStore::mark_event_published(const std::string& report_id, std::int64_t updated_ms) {
  std::lock_guard lock(mutex_);
  guarded([&] {
    SQLite::Statement update(
        db_, "UPDATE reports SET event_pending = 0 WHERE report_id = ? AND updated_ms = ?");
    update.bind(1, report_id);
    update.bind(2, updated_ms);
    update.exec();
  });
}

std::vector<Report> SqliteStore::list_event_pending() {
  std::lock_guard lock(mutex_);
  return guarded([&] {
    std::vector<Report> reports;
    SQLite::Statement query(db_, std::string("SELECT ") + kColumns +
                                     " FROM reports WHERE event_pending = 1 ORDER BY updated_ms");
    while (query.executeStep()) reports.push_back(report_from_row(query));
    return reports;
  });
}

bool SqliteStore::ping() {
  std::lock_guard lock(mutex_);
  try {
    db_.exec("SELECT 1");
    return true;
  } catch (const SQLite::Exception&) {
    return false;
  }
}

}  // namespace ssehub::store
