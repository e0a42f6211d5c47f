#include "history/sqlite/sqlite_event_log.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

namespace ssehub::history {

namespace {

constexpr std::size_t kStreamCacheLimit = 200000;

// What the log keeps. A stream's row is written only when retention drops events (to
// remember what was dropped); its last id is otherwise the newest event's, so a publish
// writes one row.
constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS streams ("
    "  stream TEXT PRIMARY KEY,"
    "  last_id INTEGER NOT NULL,"
    "  trimmed_through INTEGER NOT NULL DEFAULT 0"  // highest id retention has dropped
    ") WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS events ("
    "  stream TEXT NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  data BLOB NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (stream, id)"
    ") WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS events_by_age ON events (created_ms)",
    "CREATE TABLE IF NOT EXISTS event_keys ("
    "  key TEXT PRIMARY KEY,"
    "  id INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL"
    ") WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS health (k INTEGER PRIMARY KEY, checked_ms INTEGER)",
    "CREATE TABLE IF NOT EXISTS bus_positions ("
    "  partition INTEGER PRIMARY KEY,"
    "  next_offset INTEGER NOT NULL"
    ")",
};

// A stream's last id and trimmed-through id: what a read needs.
constexpr const char* kSelectExtent =
    "SELECT max(coalesce((SELECT last_id FROM streams WHERE stream = ?1), 0), "
    "coalesce(max(id), 0)), "
    "coalesce((SELECT trimmed_through FROM streams WHERE stream = ?1), 0) "
    "FROM events WHERE stream = ?1";
// The same and the stream's event count, for the writer's count limit. Only the writer
// counts, once per stream it has not cached: in a table without rowids, counting reads every
// event's data.
constexpr const char* kSelectStream =
    "SELECT max(coalesce((SELECT last_id FROM streams WHERE stream = ?1), 0), "
    "coalesce(max(id), 0)), "
    "coalesce((SELECT trimmed_through FROM streams WHERE stream = ?1), 0), count(*) "
    "FROM events WHERE stream = ?1";

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

StreamExtent extent_of(SQLite::Statement& select_stream) {
  StreamExtent extent;
  if (select_stream.executeStep()) {
    extent.last_id = static_cast<std::uint64_t>(select_stream.getColumn(0).getInt64());
    extent.trimmed_through = static_cast<std::uint64_t>(select_stream.getColumn(1).getInt64());
  }
  return extent;
}

}  // namespace

// The writer's statements, prepared once.
struct SqliteEventLog::Statements {
  explicit Statements(SQLite::Database& db)
      : select_stream(db, kSelectStream),
        insert_event(
            db, "INSERT INTO events (stream, id, type, data, created_ms) VALUES (?, ?, ?, ?, ?)"),
        upsert_stream(db,
                      "INSERT INTO streams (stream, last_id, trimmed_through) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (stream) DO UPDATE SET last_id = ?2, trimmed_through = ?3"),
        nth_newest(db, "SELECT id FROM events WHERE stream = ? ORDER BY id DESC LIMIT 1 OFFSET ?"),
        delete_through(db, "DELETE FROM events WHERE stream = ? AND id <= ?"),
        find_key(db, "SELECT id FROM event_keys WHERE key = ?"),
        insert_key(db, "INSERT INTO event_keys (key, id, created_ms) VALUES (?, ?, ?)"),
        upsert_position(
            db,
            "INSERT INTO bus_positions (partition, next_offset) VALUES (?1, ?2) "
            "ON CONFLICT (partition) DO UPDATE SET next_offset = max(next_offset, ?2)") {}
  SQLite::Statement select_stream, insert_event, upsert_stream, nth_newest, delete_through,
      find_key, insert_key, upsert_position;
};

SqliteEventLog::SqliteEventLog(SqliteEventLogOptions options, metrics::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {
  writer_ = std::make_unique<SQLite::Database>(options_.path,
                                               SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  writer_->exec("PRAGMA journal_mode=WAL");
  writer_->exec(options_.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  writer_->exec("PRAGMA busy_timeout=5000");
  create_schema();
  // Checkpoints run on a thread of their own (see maintain), not inside commits.
  writer_->exec("PRAGMA wal_autocheckpoint=0");
  writer_->exec("PRAGMA journal_size_limit=67108864");
  statements_ = std::make_unique<Statements>(*writer_);
  reader_ = std::make_unique<SQLite::Database>(options_.path, SQLite::OPEN_READONLY);
  reader_->exec("PRAGMA busy_timeout=5000");
  checkpointer_ = std::make_unique<SQLite::Database>(options_.path, SQLite::OPEN_READWRITE);
  checkpointer_->exec("PRAGMA busy_timeout=1000");
}

SqliteEventLog::~SqliteEventLog() = default;

void SqliteEventLog::create_schema() {
  for (const char* statement : kSchema) writer_->exec(statement);
}

Appended SqliteEventLog::append(std::span<core::EventDraft> drafts,
                                std::span<const core::LogPosition> positions) {
  Appended appended;
  appended.ids.reserve(drafts.size());
  std::unordered_set<std::string> touched;
  try {
    SQLite::Transaction transaction(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
    const std::int64_t now = options_.retention.now_ms();
    std::unordered_map<std::string, std::uint64_t> keys_in_batch;
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      const core::EventDraft& draft = drafts[i];
      StreamState& state = state_of(draft.stream);
      if (auto earlier = stored_id(state, draft, keys_in_batch)) {
        appended.ids.push_back(*earlier);
        appended.stored_before.push_back(i);
        continue;
      }
      const std::uint64_t id = draft.id != 0 ? draft.id : state.last_id + 1;
      state.last_id = id;
      ++state.count;
      touched.insert(draft.stream);
      insert(draft, id, now);
      if (!draft.dedupe_key.empty()) keys_in_batch.emplace(draft.dedupe_key, id);
      appended.ids.push_back(id);
    }
    for (const std::string& stream : touched) trim_to_limit(stream, cache_.at(stream));
    store_positions(positions);
    transaction.commit();
  } catch (...) {
    for (const std::string& stream : touched) cache_.erase(stream);
    throw;
  }
  if (cache_.size() > kStreamCacheLimit) cache_.clear();

  appended.committed.reserve(drafts.size() - appended.stored_before.size());
  auto skipped = appended.stored_before.begin();
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    if (skipped != appended.stored_before.end() && *skipped == i) {
      ++skipped;
      continue;
    }
    core::EventDraft& draft = drafts[i];
    appended.committed.push_back(
        std::make_shared<StoredEvent>(StoredEvent{.stream = std::move(draft.stream),
                                                  .id = appended.ids[i],
                                                  .type = std::move(draft.type),
                                                  .data = std::move(draft.data),
                                                  .accepted_at = draft.accepted_at}));
  }
  return appended;
}

// A re-delivery: a bus draft at or below the stream's last id, or a key stored before.
std::optional<std::uint64_t> SqliteEventLog::stored_id(
    const StreamState& state, const core::EventDraft& draft,
    const std::unordered_map<std::string, std::uint64_t>& batch) {
  if (draft.id != 0 && draft.id <= state.last_id) return draft.id;
  if (draft.dedupe_key.empty()) return std::nullopt;
  if (auto it = batch.find(draft.dedupe_key); it != batch.end()) return it->second;
  SQLite::Statement& find_key = statements_->find_key;
  find_key.reset();
  find_key.bind(1, draft.dedupe_key);
  const ResetWhenDone reset(find_key);
  if (find_key.executeStep()) return static_cast<std::uint64_t>(find_key.getColumn(0).getInt64());
  return std::nullopt;
}

void SqliteEventLog::insert(const core::EventDraft& draft, std::uint64_t id, std::int64_t now) {
  SQLite::Statement& insert_event = statements_->insert_event;
  insert_event.reset();
  insert_event.bind(1, draft.stream);
  insert_event.bind(2, static_cast<std::int64_t>(id));
  insert_event.bind(3, draft.type);
  insert_event.bind(4, draft.data.data(), static_cast<int>(draft.data.size()));
  insert_event.bind(5, now);
  insert_event.exec();
  if (draft.dedupe_key.empty()) return;
  SQLite::Statement& insert_key = statements_->insert_key;
  insert_key.reset();
  insert_key.bind(1, draft.dedupe_key);
  insert_key.bind(2, static_cast<std::int64_t>(id));
  insert_key.bind(3, now);
  insert_key.exec();
}

SqliteEventLog::StreamState& SqliteEventLog::state_of(const std::string& stream) {
  auto it = cache_.find(stream);
  if (it != cache_.end()) return it->second;
  StreamState state;
  SQLite::Statement& select_stream = statements_->select_stream;
  select_stream.reset();
  select_stream.bind(1, stream);
  const ResetWhenDone reset(select_stream);
  if (select_stream.executeStep()) {
    state.last_id = static_cast<std::uint64_t>(select_stream.getColumn(0).getInt64());
    state.trimmed_through = static_cast<std::uint64_t>(select_stream.getColumn(1).getInt64());
    state.count = static_cast<std::size_t>(select_stream.getColumn(2).getInt64());
  }
  return cache_.emplace(stream, state).first->second;
}

// Drops a stream's oldest events beyond the count limit, and remembers what was dropped.
void SqliteEventLog::trim_to_limit(const std::string& stream, StreamState& state) {
  if (state.count <= options_.retention.max_events_per_stream) return;
  SQLite::Statement& nth_newest = statements_->nth_newest;
  nth_newest.reset();
  nth_newest.bind(1, stream);
  nth_newest.bind(2, static_cast<std::int64_t>(options_.retention.max_events_per_stream));
  std::uint64_t cut = 0;
  {
    const ResetWhenDone reset(nth_newest);
    if (nth_newest.executeStep())
      cut = static_cast<std::uint64_t>(nth_newest.getColumn(0).getInt64());
  }
  if (cut != 0) {
    SQLite::Statement& delete_through = statements_->delete_through;
    delete_through.reset();
    delete_through.bind(1, stream);
    delete_through.bind(2, static_cast<std::int64_t>(cut));
    const int dropped = delete_through.exec();
    state.count -= std::min<std::size_t>(state.count, static_cast<std::size_t>(dropped));
    state.trimmed_through = std::max(state.trimmed_through, cut);
  }
  SQLite::Statement& upsert_stream = statements_->upsert_stream;
  upsert_stream.reset();
  upsert_stream.bind(1, stream);
  upsert_stream.bind(2, static_cast<std::int64_t>(state.last_id));
  upsert_stream.bind(3, static_cast<std::int64_t>(state.trimmed_through));
  upsert_stream.exec();
}

void SqliteEventLog::store_positions(std::span<const core::LogPosition> positions) {
  SQLite::Statement& upsert_position = statements_->upsert_position;
  for (const core::LogPosition& position : positions) {
    upsert_position.reset();
    upsert_position.bind(1, position.partition);
    upsert_position.bind(2, position.next_offset);
    upsert_position.exec();
  }
}

void SqliteEventLog::retain() {
  const std::int64_t cutoff = options_.retention.age_cutoff_ms();
  SQLite::Transaction transaction(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement mark(
      *writer_,
      "INSERT INTO streams (stream, last_id, trimmed_through) "
      "SELECT stream, max(id), max(id) FROM events WHERE created_ms < ?1 GROUP BY stream "
      "ON CONFLICT (stream) DO UPDATE SET "
      "last_id = max(last_id, excluded.last_id), "
      "trimmed_through = max(trimmed_through, excluded.trimmed_through)");
  mark.bind(1, cutoff);
  mark.exec();
  SQLite::Statement drop(*writer_, "DELETE FROM events WHERE created_ms < ?");
  drop.bind(1, cutoff);
  const int dropped = drop.exec();
  SQLite::Statement drop_keys(*writer_, "DELETE FROM event_keys WHERE created_ms < ?");
  drop_keys.bind(1, cutoff);
  drop_keys.exec();
  transaction.commit();
  if (dropped > 0) {
    cache_.clear();
    spdlog::debug("history: dropped {} events older than {}s", dropped,
                  options_.retention.max_age.count());
  }
}

void SqliteEventLog::probe() {
  SQLite::Transaction transaction(*writer_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement touch(*writer_, "INSERT OR REPLACE INTO health (k, checked_ms) VALUES (1, ?)");
  touch.bind(1, options_.retention.now_ms());
  touch.exec();
  transaction.commit();
}

Page SqliteEventLog::read(const std::string& stream, std::uint64_t after_id, PageLimit limit) {
  Page page;
  // One snapshot: the extent and the events agree, whatever the writer commits meanwhile.
  SQLite::Transaction snapshot(*reader_, SQLite::TransactionBehavior::DEFERRED);
  {
    SQLite::Statement query(*reader_, kSelectExtent);
    query.bind(1, stream);
    page.extent = extent_of(query);
  }
  SQLite::Statement events(
      *reader_, "SELECT id, type, data FROM events WHERE stream = ? AND id > ? ORDER BY id");
  events.bind(1, stream);
  events.bind(2, static_cast<std::int64_t>(after_id));
  std::size_t bytes = 0;
  while (events.executeStep()) {
    if (bytes >= limit.max_bytes && !page.events.empty()) {
      page.more = true;
      break;
    }
    const SQLite::Column data = events.getColumn(2);
    auto event = std::make_shared<StoredEvent>(
        StoredEvent{.stream = stream,
                    .id = static_cast<std::uint64_t>(events.getColumn(0).getInt64()),
                    .type = events.getColumn(1).getString(),
                    .data = std::string(static_cast<const char*>(data.getBlob()),
                                        static_cast<std::size_t>(data.getBytes()))});
    bytes += limit.size_of(*event);
    page.events.push_back(std::move(event));
  }
  events.reset();  // before the commit: an unfinished statement keeps the snapshot open
  snapshot.commit();
  return page;
}

std::chrono::milliseconds SqliteEventLog::maintenance_period() const {
  return std::chrono::milliseconds(250);
}

void SqliteEventLog::maintain() {
  // Copies the WAL back into the database off the writer's thread, so commits never wait
  // for a checkpoint (and, with sync=full, for its fsync of the database file).
  try {
    SQLite::Statement checkpoint(*checkpointer_, "PRAGMA wal_checkpoint(PASSIVE)");
    if (checkpoint.executeStep()) {
      // Frames a checkpoint could not copy yet: stays near zero unless a read pins the WAL.
      metrics_.wal_frames_behind.set(checkpoint.getColumn(1).getInt64() -
                                     checkpoint.getColumn(2).getInt64());
    }
  } catch (const std::exception& e) {
    spdlog::debug("history: checkpoint deferred: {}", e.what());
  }
}

std::vector<core::LogPosition> SqliteEventLog::positions() {
  // A connection of its own: the others belong to History's threads.
  SQLite::Database db(options_.path, SQLite::OPEN_READONLY);
  SQLite::Statement query(db,
                          "SELECT partition, next_offset FROM bus_positions ORDER BY partition");
  std::vector<core::LogPosition> positions;
  while (query.executeStep())
    positions.push_back({query.getColumn(0).getInt(), query.getColumn(1).getInt64()});
  return positions;
}

}  // namespace ssehub::history
