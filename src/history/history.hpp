#pragma once

#include "core/event.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ssehub::history {

class MemoryLog;

struct HistoryOptions {
  // Memory only (`--history-store memory`): no database, lost on restart; see MemoryLog.
  bool in_memory = false;
  std::size_t memory_budget_bytes = std::size_t{256} << 20;  // in memory: all streams together
  std::string database_path;
  std::size_t max_events_per_stream = 1000;
  std::chrono::seconds max_age{24 * 3600};
  bool sync_full = true;
  std::size_t queue_limit = 65536;
  std::chrono::milliseconds trim_interval{10000};
  // Stamps events and decides their age. Replaced only by tests that age events without
  // waiting (and without racing a trim that runs on its own thread).
  core::WallClock wall_clock = std::chrono::system_clock::now;
  // Cluster mode: ids come from the bus, and this node's copy may lag behind the id a client
  // saw on another node. A resume from an id this node has not reached yet then waits for
  // it (the live stream delivers it) instead of answering `reset`.
  bool ids_from_bus = false;
  // Cluster mode: whether the bus may have issued `id` on the stream's partition. A resume
  // from an id it cannot have issued gets `reset` instead of waiting forever.
  std::function<bool(const std::string& stream, std::uint64_t id)> bus_may_have_issued;
};

// What a resuming stream sends before going live.
// A page of it, at most the bytes asked for (and at least one event, so a replay advances).
struct Replay {
  std::vector<core::EventPtr> events;  // in id order; starts with a `reset` event when `reset`
  bool reset = false;
  std::uint64_t last_id = 0;  // the stream continues after this id
  bool more = false;          // history held more events after last_id when this page was read
};

struct AppendResult {
  bool ok = false;
  std::vector<std::uint64_t> ids;  // one per draft, when ok
  std::size_t already_stored = 0;  // drafts recognised as re-deliveries, not stored again
  std::string error;
};

// The per-stream event log. Assigns ids, stores events in SQLite (WAL) with group commit on a
// writer thread of its own, serves resumes from a reader thread, and enforces retention by
// count and age; no disk access ever runs on an I/O thread. With `in_memory`, a MemoryLog
// keeps the events instead, and appends and resumes run on the caller's thread under a mutex
// (no disk, nothing that blocks for long).
// What history counts.
struct HistoryMetrics {
  explicit HistoryMetrics(metrics::Registry& registry);
  metrics::Counter& events_accepted;   // events durably stored and handed to fan-out
  metrics::Counter& commits;           // group commits
  metrics::Counter& write_errors;      // failed group commits (each fails its publishes with 503)
  metrics::Gauge& wal_frames_behind;   // WAL frames the last checkpoint could not copy back
  metrics::Gauge& memory_bytes;        // what the in-memory history holds
};

class History {
 public:
  using AppendDone = std::function<void(AppendResult)>;
  using ReplayDone = std::function<void(std::shared_ptr<Replay>)>;  // null on read failure
  // Receives each committed batch, in commit order, on the writer thread.
  using CommitListener = std::function<void(std::vector<core::EventPtr>)>;

  History(HistoryOptions options, metrics::Registry& registry);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Opens (or creates) the database and starts the threads. Throws on failure.
  void start(CommitListener listener);

  // Thread-safe. `done` runs on `executor` (or, when the executor is empty, on the writer
  // thread, or in memory before append returns) once the drafts are durable (or failed).
  // Drafts of one call commit together.
  // Drafts carrying an id (from a cluster bus) keep it, and one not above its stream's last
  // id is a re-delivery and skipped, so applying a bus log twice changes nothing.
  // `positions` are stored in the same transaction.
  core::Admission append(std::vector<core::EventDraft> drafts, boost::asio::any_io_executor executor,
                   AppendDone done, std::vector<core::LogPosition> positions = {});

  // Where the cluster bus left off applying each partition (read once before start()).
  static std::vector<core::LogPosition> load_bus_positions(const std::string& database_path);

  // Thread-safe. Reads what a client resuming from `from` missed, one page of about
  // `max_bytes` of frames (Replay::more tells whether more follow); `done` runs on `executor`
  // (or, when the executor is empty, on the reader thread, or in memory before replay
  // returns).
  bool replay(std::string stream, core::ResumePoint from, boost::asio::any_io_executor executor,
              ReplayDone done, std::size_t max_bytes = SIZE_MAX);

  // Cluster mode: set once, before any stream resumes (see HistoryOptions).
  void set_bus_check(std::function<bool(const std::string& stream, std::uint64_t id)> check);

  // Finishes every queued append, then stops the threads.
  void stop();

  // The database is open and the last commit succeeded.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

 private:
  struct PendingAppend {
    std::vector<core::EventDraft> drafts;
    boost::asio::any_io_executor executor;
    AppendDone done;
    std::vector<core::LogPosition> positions;
  };
  struct PendingReplay {
    std::string stream;
    core::ResumePoint from;
    std::size_t max_bytes;
    boost::asio::any_io_executor executor;
    ReplayDone done;
  };
  class Writer;
  class Reader;

  void run_writer();
  void run_reader();
  void run_checkpointer();
  void run_memory_trimmer();
  core::Admission append_in_memory(std::vector<core::EventDraft> drafts, boost::asio::any_io_executor executor,
                             AppendDone done);

  HistoryOptions options_;
  HistoryMetrics metrics_;
  CommitListener listener_;

  std::mutex append_mutex_;
  std::condition_variable append_cv_;
  std::deque<PendingAppend> appends_;
  std::size_t queued_drafts_ = 0;
  bool stopping_ = false;

  std::mutex replay_mutex_;
  std::condition_variable replay_cv_;
  std::deque<PendingReplay> replays_;
  bool replay_stopping_ = false;

  std::atomic<bool> ready_{false};
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Reader> reader_;
  std::thread writer_thread_;
  std::thread reader_thread_;
  std::mutex housekeeping_mutex_;
  std::condition_variable housekeeping_cv_;
  bool housekeeping_stopping_ = false;
  // WAL checkpoints (SQLite) or age retention (memory), off the paths that publish.
  std::thread housekeeping_thread_;

  // In memory: the log, and the order in which appends number events and reach the listener.
  std::mutex memory_mutex_;
  std::unique_ptr<MemoryLog> memory_;
  bool memory_stopped_ = false;
};

}  // namespace ssehub::history
