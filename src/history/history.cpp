#include "history/history.hpp"

#include "core/thread.hpp"
#include "history/memory_log.hpp"
#include "history/replay_plan.hpp"
#include "sse/encoder.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace ssehub::history {

namespace {

constexpr std::size_t kMaxDraftsPerCommit = 8192;
constexpr std::size_t kMaxQueuedReplays = 100000;
constexpr std::size_t kStreamCacheLimit = 200000;

void open_database(SQLite::Database& db, bool sync_full) {
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA busy_timeout=5000");
}

// A cached statement left in the middle of its result keeps its connection's read
// transaction open past COMMIT. That pins the WAL: no checkpoint can copy frames beyond the
// read's snapshot, so the WAL (and the -shm index mapped into every process using it) grows
// without end. Every query of a cached statement is reset as soon as its row is read.
class ResetWhenDone {
 public:
  explicit ResetWhenDone(SQLite::Statement& statement) : statement_(statement) {}
  ~ResetWhenDone() { statement_.tryReset(); }
  ResetWhenDone(const ResetWhenDone&) = delete;
  ResetWhenDone& operator=(const ResetWhenDone&) = delete;

 private:
  SQLite::Statement& statement_;
};

}  // namespace

// Owns the read-write connection; only the writer thread touches it.
class History::Writer {
 public:
  Writer(const HistoryOptions& options)
      : options_(options),
        db_(options.database_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    open_database(db_, options.sync_full);
    db_.exec(
        "CREATE TABLE IF NOT EXISTS streams ("
        "  stream TEXT PRIMARY KEY,"
        "  last_id INTEGER NOT NULL,"
        "  trimmed_through INTEGER NOT NULL DEFAULT 0"  // highest id retention has dropped
        ") WITHOUT ROWID");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS events ("
        "  stream TEXT NOT NULL,"
        "  id INTEGER NOT NULL,"
        "  type TEXT NOT NULL,"
        "  data BLOB NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (stream, id)"
        ") WITHOUT ROWID");
    db_.exec("CREATE INDEX IF NOT EXISTS events_by_age ON events (created_ms)");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS event_keys ("
        "  key TEXT PRIMARY KEY,"
        "  id INTEGER NOT NULL,"
        "  created_ms INTEGER NOT NULL"
        ") WITHOUT ROWID");
    db_.exec("CREATE TABLE IF NOT EXISTS health (k INTEGER PRIMARY KEY, checked_ms INTEGER)");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS bus_positions ("
        "  partition INTEGER PRIMARY KEY,"
        "  next_offset INTEGER NOT NULL"
        ")");
    // Checkpoints run on a thread of their own (see run_checkpointer), not inside commits.
    db_.exec("PRAGMA wal_autocheckpoint=0");
    db_.exec("PRAGMA journal_size_limit=67108864");
    // A stream's row is written only when retention drops events (to remember what was
    // dropped); its last id is otherwise the newest event's, so a publish writes one row.
    select_stream_ = std::make_unique<SQLite::Statement>(
        db_, "SELECT max(coalesce((SELECT last_id FROM streams WHERE stream = ?1), 0), "
             "coalesce(max(id), 0)), "
             "coalesce((SELECT trimmed_through FROM streams WHERE stream = ?1), 0), count(*) "
             "FROM events WHERE stream = ?1");
    insert_event_ = std::make_unique<SQLite::Statement>(
        db_, "INSERT INTO events (stream, id, type, data, created_ms) VALUES (?, ?, ?, ?, ?)");
    upsert_stream_ = std::make_unique<SQLite::Statement>(
        db_, "INSERT INTO streams (stream, last_id, trimmed_through) VALUES (?1, ?2, ?3) "
             "ON CONFLICT (stream) DO UPDATE SET last_id = ?2, trimmed_through = ?3");
    nth_newest_ = std::make_unique<SQLite::Statement>(
        db_, "SELECT id FROM events WHERE stream = ? ORDER BY id DESC LIMIT 1 OFFSET ?");
    delete_through_ = std::make_unique<SQLite::Statement>(
        db_, "DELETE FROM events WHERE stream = ? AND id <= ?");
    find_key_ = std::make_unique<SQLite::Statement>(db_, "SELECT id FROM event_keys WHERE key = ?");
    insert_key_ = std::make_unique<SQLite::Statement>(
        db_, "INSERT INTO event_keys (key, id, created_ms) VALUES (?, ?, ?)");
    upsert_position_ = std::make_unique<SQLite::Statement>(
        db_, "INSERT INTO bus_positions (partition, next_offset) VALUES (?1, ?2) "
             "ON CONFLICT (partition) DO UPDATE SET next_offset = max(next_offset, ?2)");
  }

  // Writes one group of drafts in one transaction. Throws on failure, leaving nothing
  // written and the cache dropped. Returns each draft's id; `fresh[i]` is false for a
  // bus re-delivery that was already stored.
  std::vector<std::uint64_t> commit(const std::vector<const core::EventDraft*>& drafts,
                                    const std::vector<const core::LogPosition*>& positions,
                                    std::vector<bool>& fresh) {
    std::vector<std::uint64_t> ids;
    ids.reserve(drafts.size());
    fresh.assign(drafts.size(), true);
    std::unordered_set<std::string> touched;
    try {
      SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
      const std::int64_t now = unix_millis_now();
      std::unordered_map<std::string, std::uint64_t> keys_in_batch;
      for (std::size_t i = 0; i < drafts.size(); ++i) {
        const core::EventDraft* draft = drafts[i];
        StreamState& state = state_of(draft->stream);
        if (draft->id != 0 && draft->id <= state.last_id) {
          fresh[i] = false;
          ids.push_back(draft->id);
          continue;
        }
        if (!draft->dedupe_key.empty()) {
          if (auto earlier = id_of_key(draft->dedupe_key, keys_in_batch)) {
            fresh[i] = false;
            ids.push_back(*earlier);
            continue;
          }
        }
        const std::uint64_t id = draft->id != 0 ? draft->id : state.last_id + 1;
        state.last_id = id;
        ++state.count;
        touched.insert(draft->stream);
        insert_event_->reset();
        insert_event_->bind(1, draft->stream);
        insert_event_->bind(2, static_cast<std::int64_t>(id));
        insert_event_->bind(3, draft->type);
        insert_event_->bind(4, draft->data.data(), static_cast<int>(draft->data.size()));
        insert_event_->bind(5, now);
        insert_event_->exec();
        if (!draft->dedupe_key.empty()) {
          insert_key_->reset();
          insert_key_->bind(1, draft->dedupe_key);
          insert_key_->bind(2, static_cast<std::int64_t>(id));
          insert_key_->bind(3, now);
          insert_key_->exec();
          keys_in_batch.emplace(draft->dedupe_key, id);
        }
        ids.push_back(id);
      }
      for (const std::string& stream : touched) {
        StreamState& state = cache_.at(stream);
        if (state.count <= options_.max_events_per_stream) continue;
        trim_to_limit(stream, state);
        upsert_stream_->reset();
        upsert_stream_->bind(1, stream);
        upsert_stream_->bind(2, static_cast<std::int64_t>(state.last_id));
        upsert_stream_->bind(3, static_cast<std::int64_t>(state.trimmed_through));
        upsert_stream_->exec();
      }
      for (const core::LogPosition* position : positions) {
        upsert_position_->reset();
        upsert_position_->bind(1, position->partition);
        upsert_position_->bind(2, position->next_offset);
        upsert_position_->exec();
      }
      transaction.commit();
    } catch (...) {
      for (const std::string& stream : touched) cache_.erase(stream);
      throw;
    }
    if (cache_.size() > kStreamCacheLimit) cache_.clear();
    return ids;
  }

  // Drops events older than the age limit, remembering per stream what was dropped so a
  // resume from before it is answered with `reset`.
  void trim_by_age() {
    const std::int64_t cutoff =
        unix_millis_now() -
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_age).count();
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement mark(
        db_, "INSERT INTO streams (stream, last_id, trimmed_through) "
             "SELECT stream, max(id), max(id) FROM events WHERE created_ms < ?1 GROUP BY stream "
             "ON CONFLICT (stream) DO UPDATE SET "
             "last_id = max(last_id, excluded.last_id), "
             "trimmed_through = max(trimmed_through, excluded.trimmed_through)");
    mark.bind(1, cutoff);
    mark.exec();
    SQLite::Statement drop(db_, "DELETE FROM events WHERE created_ms < ?");
    drop.bind(1, cutoff);
    const int dropped = drop.exec();
    SQLite::Statement drop_keys(db_, "DELETE FROM event_keys WHERE created_ms < ?");
    drop_keys.bind(1, cutoff);
    drop_keys.exec();
    transaction.commit();
    if (dropped > 0) {
      cache_.clear();
      spdlog::debug("history: dropped {} events older than {}s", dropped, options_.max_age.count());
    }
  }

  // A small write, to learn whether the disk takes writes again (or still does).
  void probe() {
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement touch(db_, "INSERT OR REPLACE INTO health (k, checked_ms) VALUES (1, ?)");
    touch.bind(1, unix_millis_now());
    touch.exec();
    transaction.commit();
  }

 private:
  std::int64_t unix_millis_now() const { return core::unix_millis(options_.wall_clock()); }

  std::optional<std::uint64_t> id_of_key(const std::string& key,
                                         const std::unordered_map<std::string, std::uint64_t>& batch) {
    if (auto it = batch.find(key); it != batch.end()) return it->second;
    find_key_->reset();
    find_key_->bind(1, key);
    const ResetWhenDone reset(*find_key_);
    if (find_key_->executeStep()) return static_cast<std::uint64_t>(find_key_->getColumn(0).getInt64());
    return std::nullopt;
  }

  struct StreamState {
    std::uint64_t last_id = 0;
    std::uint64_t trimmed_through = 0;
    std::size_t count = 0;
  };

  StreamState& state_of(const std::string& stream) {
    auto it = cache_.find(stream);
    if (it != cache_.end()) return it->second;
    StreamState state;
    select_stream_->reset();
    select_stream_->bind(1, stream);
    const ResetWhenDone reset(*select_stream_);
    if (select_stream_->executeStep()) {
      state.last_id = static_cast<std::uint64_t>(select_stream_->getColumn(0).getInt64());
      state.trimmed_through = static_cast<std::uint64_t>(select_stream_->getColumn(1).getInt64());
      state.count = static_cast<std::size_t>(select_stream_->getColumn(2).getInt64());
    }
    return cache_.emplace(stream, state).first->second;
  }

  void trim_to_limit(const std::string& stream, StreamState& state) {
    nth_newest_->reset();
    nth_newest_->bind(1, stream);
    nth_newest_->bind(2, static_cast<std::int64_t>(options_.max_events_per_stream));
    std::uint64_t cut = 0;
    {
      const ResetWhenDone reset(*nth_newest_);
      if (!nth_newest_->executeStep()) return;
      cut = static_cast<std::uint64_t>(nth_newest_->getColumn(0).getInt64());
    }
    delete_through_->reset();
    delete_through_->bind(1, stream);
    delete_through_->bind(2, static_cast<std::int64_t>(cut));
    const int dropped = delete_through_->exec();
    state.count -= std::min<std::size_t>(state.count, static_cast<std::size_t>(dropped));
    state.trimmed_through = std::max(state.trimmed_through, cut);
  }

  const HistoryOptions& options_;
  SQLite::Database db_;
  std::unique_ptr<SQLite::Statement> select_stream_, insert_event_, upsert_stream_, nth_newest_,
      delete_through_, upsert_position_, find_key_, insert_key_;
  std::unordered_map<std::string, StreamState> cache_;
};

// Owns a read-only connection; WAL lets it read while the writer commits.
class History::Reader {
 public:
  Reader(const std::string& path, const HistoryOptions& options)
      : db_(path, SQLite::OPEN_READONLY), options_(options) {
    db_.exec("PRAGMA busy_timeout=5000");
  }

  std::shared_ptr<Replay> read(const std::string& stream, core::ResumePoint from, std::size_t max_bytes) {
    auto replay = std::make_shared<Replay>();
    StreamExtent extent;
    SQLite::Transaction snapshot(db_, SQLite::TransactionBehavior::DEFERRED);
    {
      SQLite::Statement query(
          db_, "SELECT max(coalesce((SELECT last_id FROM streams WHERE stream = ?1), 0), "
               "coalesce(max(id), 0)), "
               "coalesce((SELECT trimmed_through FROM streams WHERE stream = ?1), 0) "
               "FROM events WHERE stream = ?1");
      query.bind(1, stream);
      if (query.executeStep()) {
        extent.last_id = static_cast<std::uint64_t>(query.getColumn(0).getInt64());
        extent.trimmed_through = static_cast<std::uint64_t>(query.getColumn(1).getInt64());
      }
    }
    const auto read_after = plan_replay(*replay, stream, extent, from, options_);
    if (!read_after) {
      snapshot.commit();
      return replay;
    }
    SQLite::Statement events(
        db_, "SELECT id, type, data FROM events WHERE stream = ? AND id > ? ORDER BY id");
    events.bind(1, stream);
    events.bind(2, static_cast<std::int64_t>(*read_after));
    std::size_t bytes = 0;
    while (events.executeStep()) {
      if (bytes >= max_bytes && !replay->events.empty()) {
        replay->more = true;
        break;
      }
      auto event = std::make_shared<core::Event>();
      event->stream = stream;
      event->id = static_cast<std::uint64_t>(events.getColumn(0).getInt64());
      const SQLite::Column data = events.getColumn(2);
      event->frame = sse::encode_event(
          events.getColumn(1).getString(), event->id,
          std::string_view(static_cast<const char*>(data.getBlob()),
                           static_cast<std::size_t>(data.getBytes())));
      replay->last_id = event->id;
      bytes += event->frame.size();
      replay->events.push_back(std::move(event));
    }
    events.reset();  // before the commit: an unfinished statement keeps the snapshot open
    snapshot.commit();
    return replay;
  }

 private:
  SQLite::Database db_;
  const HistoryOptions& options_;
};

void History::set_bus_check(std::function<bool(const std::string&, std::uint64_t)> check) {
  options_.bus_may_have_issued = std::move(check);
}

HistoryMetrics::HistoryMetrics(metrics::Registry& registry)
    : events_accepted(registry.counter("ssehub_events_accepted_total",
                                       "Events durably stored and fanned out.")),
      commits(registry.counter("ssehub_history_commits_total", "Group commits of the history writer.")),
      write_errors(registry.counter("ssehub_history_write_errors_total", "Failed history group commits.")),
      wal_frames_behind(registry.gauge(
          "ssehub_history_wal_frames_behind",
          "History WAL frames the last checkpoint could not copy into the database.")),
      memory_bytes(registry.gauge(
          "ssehub_history_memory_bytes",
          "Bytes the in-memory history holds, bookkeeping included (--history-store memory).")) {
  registry.collect([](std::string& out) {
    metrics::render_value(out, "ssehub_sqlite_memory_bytes", "gauge",
                          "Memory SQLite holds (page caches of every connection, statements).",
                          static_cast<double>(sqlite3_memory_used()));
  });
}

History::History(HistoryOptions options, metrics::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {}

History::~History() { stop(); }

void History::start(CommitListener listener) {
  listener_ = std::move(listener);
  if (options_.in_memory) {
    memory_ = std::make_unique<MemoryLog>(options_);
    ready_ = true;
    housekeeping_thread_ = core::named_thread("history-trim", [this] { run_memory_trimmer(); });
    return;
  }
  writer_ = std::make_unique<Writer>(options_);
  writer_->trim_by_age();
  reader_ = std::make_unique<Reader>(options_.database_path, options_);
  ready_ = true;
  writer_thread_ = core::named_thread("history-write", [this] { run_writer(); });
  reader_thread_ = core::named_thread("history-read", [this] { run_reader(); });
  housekeeping_thread_ = core::named_thread("history-ckpt", [this] { run_checkpointer(); });
}

void History::run_checkpointer() {
  // Copies the WAL back into the database off the writer thread, so commits never wait for
  // a checkpoint (and, with sync=full, for its fsync of the database file).
  SQLite::Database db(options_.database_path, SQLite::OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout=1000");
  std::unique_lock lock(housekeeping_mutex_);
  while (!housekeeping_stopping_) {
    housekeeping_cv_.wait_for(lock, std::chrono::milliseconds(250));
    lock.unlock();
    try {
      SQLite::Statement checkpoint(db, "PRAGMA wal_checkpoint(PASSIVE)");
      if (checkpoint.executeStep()) {
        // Frames a checkpoint could not copy yet: stays near zero unless a read pins the WAL.
        metrics_.wal_frames_behind.set(checkpoint.getColumn(1).getInt64() -
                                               checkpoint.getColumn(2).getInt64());
      }
    } catch (const std::exception& e) {
      spdlog::debug("history: checkpoint deferred: {}", e.what());
    }
    lock.lock();
  }
}

void History::run_memory_trimmer() {
  std::unique_lock lock(housekeeping_mutex_);
  while (!housekeeping_stopping_) {
    housekeeping_cv_.wait_for(lock, options_.trim_interval);
    std::lock_guard memory_lock(memory_mutex_);
    memory_->trim_by_age();
    metrics_.memory_bytes.set(static_cast<std::int64_t>(memory_->bytes()));
  }
}

core::Admission History::append_in_memory(std::vector<core::EventDraft> drafts,
                                             boost::asio::any_io_executor executor,
                                             AppendDone done) {
  AppendResult result;
  {
    std::lock_guard lock(memory_mutex_);
    if (memory_stopped_) return core::Admission::Stopped;
    if (!memory_) return core::Admission::Unavailable;  // not started
    MemoryLog::Appended appended = memory_->append(drafts);
    metrics_.commits.add();
    metrics_.memory_bytes.set(static_cast<std::int64_t>(memory_->bytes()));
    result.ok = true;
    result.ids = std::move(appended.ids);
    result.already_stored = appended.already_stored;
    // Under the lock, so that streams get events in id order whichever thread appended them.
    if (!appended.committed.empty()) {
      metrics_.events_accepted.add(appended.committed.size());
      listener_(std::move(appended.committed));
    }
  }
  if (!executor) {
    done(std::move(result));
  } else {
    boost::asio::post(executor, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }
  return core::Admission::Queued;
}

core::Admission History::append(std::vector<core::EventDraft> drafts,
                                   boost::asio::any_io_executor executor, AppendDone done,
                                   std::vector<core::LogPosition> positions) {
  if (options_.in_memory)
    return append_in_memory(std::move(drafts), std::move(executor), std::move(done));
  {
    std::lock_guard lock(append_mutex_);
    if (stopping_) return core::Admission::Stopped;
    if (queued_drafts_ + drafts.size() > options_.queue_limit) return core::Admission::QueueFull;
    queued_drafts_ += drafts.size();
    appends_.push_back(
        {std::move(drafts), std::move(executor), std::move(done), std::move(positions)});
  }
  append_cv_.notify_one();
  return core::Admission::Queued;
}

bool History::replay(std::string stream, core::ResumePoint from, boost::asio::any_io_executor executor,
                     ReplayDone done, std::size_t max_bytes) {
  if (options_.in_memory) {
    std::shared_ptr<Replay> replay;
    {
      std::lock_guard lock(memory_mutex_);
      if (memory_stopped_ || !memory_) return false;
      replay = memory_->read(stream, from, max_bytes);
    }
    MemoryLog::detach_from_live(*replay);
    if (!executor) {
      done(std::move(replay));
    } else {
      boost::asio::post(executor, [done = std::move(done), replay = std::move(replay)]() mutable {
        done(std::move(replay));
      });
    }
    return true;
  }
  {
    std::lock_guard lock(replay_mutex_);
    if (replay_stopping_ || replays_.size() >= kMaxQueuedReplays) return false;
    replays_.push_back({std::move(stream), from, max_bytes, std::move(executor), std::move(done)});
  }
  replay_cv_.notify_one();
  return true;
}

void History::run_writer() {
  auto next_trim = core::SteadyClock::now() + options_.trim_interval;
  auto next_probe = core::SteadyClock::now() + std::chrono::seconds(1);
  for (;;) {
    std::vector<PendingAppend> batch;
    {
      std::unique_lock lock(append_mutex_);
      append_cv_.wait_until(lock, std::min(next_trim, next_probe),
                            [&] { return stopping_ || !appends_.empty(); });
      std::size_t drafts = 0;
      while (!appends_.empty() && drafts < kMaxDraftsPerCommit) {
        drafts += appends_.front().drafts.size();
        batch.push_back(std::move(appends_.front()));
        appends_.pop_front();
      }
      queued_drafts_ -= drafts;
      if (batch.empty() && stopping_) return;
    }
    if (core::SteadyClock::now() >= next_trim) {
      try {
        writer_->trim_by_age();
      } catch (const std::exception& e) {
        spdlog::warn("history: age retention failed: {}", e.what());
      }
      next_trim = core::SteadyClock::now() + options_.trim_interval;
    }
    if (batch.empty()) {
      if (core::SteadyClock::now() >= next_probe) {
        // Readiness follows the disk even when nobody publishes: a full disk shows before a
        // publish fails, and its recovery shows without waiting for one.
        try {
          writer_->probe();
          if (!ready_) spdlog::info("history: the database takes writes again");
          ready_ = true;
        } catch (const std::exception& e) {
          if (ready_) spdlog::error("history: the database refuses writes: {}", e.what());
          ready_ = false;
        }
        next_probe = core::SteadyClock::now() + (ready_ ? std::chrono::seconds(5) : std::chrono::seconds(1));
      }
      continue;
    }

    std::vector<const core::EventDraft*> drafts;
    std::vector<const core::LogPosition*> positions;
    for (const auto& pending : batch) {
      for (const auto& draft : pending.drafts) drafts.push_back(&draft);
      for (const auto& position : pending.positions) positions.push_back(&position);
    }
    std::vector<std::uint64_t> ids;
    std::vector<bool> fresh;
    std::string error;
    try {
      ids = writer_->commit(drafts, positions, fresh);
      metrics_.commits.add();
      ready_ = true;
    } catch (const std::exception& e) {
      error = e.what();
      metrics_.write_errors.add();
      ready_ = false;
      spdlog::error("history: commit of {} events failed: {}", drafts.size(), error);
    }

    std::vector<core::EventPtr> committed;
    committed.reserve(ids.size());
    // Answers grouped per executor: one wake-up of each I/O thread per commit, not one per
    // publisher.
    using Answer = std::pair<AppendDone, AppendResult>;
    std::vector<std::pair<boost::asio::any_io_executor, std::vector<Answer>>> answers;
    std::size_t position = 0;
    for (auto& pending : batch) {
      AppendResult result;
      result.ok = error.empty();
      result.error = error;
      if (result.ok) {
        for (auto& draft : pending.drafts) {
          const bool is_new = fresh[position];
          result.ids.push_back(ids[position]);
          if (!is_new) {
            ++result.already_stored;
            ++position;
            continue;
          }
          auto event = std::make_shared<core::Event>();
          event->id = ids[position++];
          event->frame = sse::encode_event(draft.type, event->id, draft.data);
          event->stream = std::move(draft.stream);
          event->accepted_at = draft.accepted_at;
          committed.push_back(std::move(event));
        }
      }
      auto group = std::find_if(answers.begin(), answers.end(),
                                [&](const auto& entry) { return entry.first == pending.executor; });
      if (group == answers.end()) {
        answers.emplace_back(pending.executor, std::vector<Answer>{});
        group = std::prev(answers.end());
      }
      group->second.emplace_back(std::move(pending.done), std::move(result));
    }
    // Live streams first, then the publishers: once a publisher holds its answer, the event
    // is already on its way to every open stream.
    if (!committed.empty()) {
      metrics_.events_accepted.add(committed.size());
      listener_(std::move(committed));
    }
    for (auto& [executor, group] : answers) {
      auto deliver = [group = std::move(group)]() mutable {
        for (auto& [done, result] : group) done(std::move(result));
      };
      if (executor)
        boost::asio::post(executor, std::move(deliver));
      else
        deliver();
    }
  }
}

void History::run_reader() {
  for (;;) {
    PendingReplay request;
    {
      std::unique_lock lock(replay_mutex_);
      replay_cv_.wait(lock, [&] { return replay_stopping_ || !replays_.empty(); });
      if (replays_.empty()) return;
      request = std::move(replays_.front());
      replays_.pop_front();
    }
    std::shared_ptr<Replay> replay;
    try {
      replay = reader_->read(request.stream, request.from, request.max_bytes);
    } catch (const std::exception& e) {
      spdlog::error("history: replay of {} failed: {}", request.stream, e.what());
    }
    if (!request.executor) {
      request.done(std::move(replay));
      continue;
    }
    boost::asio::post(request.executor,
                      [done = std::move(request.done), replay = std::move(replay)]() mutable {
                        done(std::move(replay));
                      });
  }
}

std::vector<core::LogPosition> History::load_bus_positions(const std::string& database_path) {
  std::vector<core::LogPosition> positions;
  try {
    SQLite::Database db(database_path, SQLite::OPEN_READONLY);
    SQLite::Statement query(db, "SELECT partition, next_offset FROM bus_positions ORDER BY partition");
    while (query.executeStep())
      positions.push_back({query.getColumn(0).getInt(), query.getColumn(1).getInt64()});
  } catch (const SQLite::Exception&) {
    // A new data dir: nothing applied yet.
  }
  return positions;
}

void History::stop() {
  {
    std::lock_guard lock(memory_mutex_);
    memory_stopped_ = true;
  }
  {
    std::lock_guard lock(append_mutex_);
    stopping_ = true;
  }
  append_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard lock(replay_mutex_);
    replay_stopping_ = true;
  }
  replay_cv_.notify_all();
  if (reader_thread_.joinable()) reader_thread_.join();
  {
    std::lock_guard lock(housekeeping_mutex_);
    housekeeping_stopping_ = true;
  }
  housekeeping_cv_.notify_all();
  if (housekeeping_thread_.joinable()) housekeeping_thread_.join();
  writer_.reset();
  reader_.reset();
  {
    std::lock_guard lock(memory_mutex_);
    memory_.reset();
  }
  ready_ = false;
}

}  // namespace ssehub::history
