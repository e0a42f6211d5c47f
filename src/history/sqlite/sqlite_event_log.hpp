#pragma once

#include "history/event_log.hpp"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace ssehub::history {

struct SqliteEventLogOptions {
  std::string path;
  bool sync_full = true;  // fsync every commit (otherwise: survives crashes, not power loss)
  Retention retention;
};

// The durable log (the default): SQLite in WAL mode, one transaction per append (History
// passes it everything queued, a group commit). The writer, the reader and the checkpointer
// each have a connection of their own, used by one thread each (see EventLog::Threading):
// WAL lets the reader read while the writer commits, and checkpoints never hold up a commit.
// Opens (or creates) the database on construction; throws when it cannot.
class SqliteEventLog final : public EventLog {
 public:
  SqliteEventLog(SqliteEventLogOptions options, metrics::Registry& registry);
  ~SqliteEventLog() override;

  Threading threading() const override { return Threading::OwnThreads; }
  Appended append(std::span<core::EventDraft> drafts,
                  std::span<const core::LogPosition> positions) override;
  Page read(const std::string& stream, std::uint64_t after_id, PageLimit limit) override;
  void retain() override;
  void probe() override;
  std::chrono::milliseconds maintenance_period() const override;
  void maintain() override;
  std::vector<core::LogPosition> positions() override;

 private:
  struct StreamState {
    std::uint64_t last_id = 0;
    std::uint64_t trimmed_through = 0;
    std::size_t count = 0;
  };
  // The writer's cached statements (see sqlite_event_log.cpp).
  struct Statements;

  void create_schema();
  StreamState& state_of(const std::string& stream);
  std::optional<std::uint64_t> stored_id(
      const StreamState& state, const core::EventDraft& draft,
      const std::unordered_map<std::string, std::uint64_t>& batch);
  void insert(const core::EventDraft& draft, std::uint64_t id, std::int64_t now);
  void trim_to_limit(const std::string& stream, StreamState& state);
  void store_positions(std::span<const core::LogPosition> positions);

  SqliteEventLogOptions options_;
  EventLogMetrics metrics_;
  std::unique_ptr<SQLite::Database> writer_, reader_, checkpointer_;
  std::unique_ptr<Statements> statements_;
  // The writer's view of the streams it touched lately, so a publish reads nothing.
  std::unordered_map<std::string, StreamState> cache_;
};

}  // namespace ssehub::history
