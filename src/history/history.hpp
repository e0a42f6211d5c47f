#pragma once

#include "core/event.hpp"
#include "core/run_on.hpp"
#include "history/event_log.hpp"
#include "history/id_authority.hpp"
#include "history/replay_plan.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ssehub::history {

struct HistoryOptions {
  // Drafts waiting for the writer thread of a log that has one; more are refused.
  std::size_t queue_limit = 65536;
  std::chrono::milliseconds trim_interval{10000};  // how often age retention runs
};

struct AppendResult {
  bool ok = false;
  std::vector<std::uint64_t> ids;  // one per draft, when ok
  std::size_t already_stored = 0;  // drafts recognised as re-deliveries, not stored again
  std::string error;
};

// One page of what a resuming stream missed, at most the bytes asked for (and at least one
// event, so a replay advances). The events as stored: sse/ frames them and the reset.
struct Replay {
  std::optional<Reset> reset;          // told first: the resume cannot be served as asked
  std::vector<StoredEventPtr> events;  // in id order
  std::uint64_t last_id = 0;           // the stream continues after this id
  bool more = false;  // history held more events after last_id when this page was read
};

// Receives each committed batch, in commit order, before the publishers get their answers
// (the commit -> fan-out edge: sse::Fanout): on the writer thread, or on the publishing
// thread under history's lock when the log runs on the callers' threads, or on the log's sync
// thread once the batch is synced when the log syncs in groups.
class CommitListener {
 public:
  virtual ~CommitListener() = default;
  struct FannedOut {
    std::size_t deliveries = 0;  // for each event, the streams it goes to, summed
    // The listener's own mark of the streams' threads that were behind (hub::Hub's
    // lagging_threads), handed back to after_delivered; history only tests it for zero.
    std::uint64_t lagging = 0;
  };
  virtual FannedOut on_commit(std::vector<StoredEventPtr> events) = 0;
  // Runs `then` on `then_on` once the threads in `lagging` have delivered the commit.
  virtual void after_delivered(std::uint64_t /*lagging*/, boost::asio::any_io_executor then_on,
                               std::function<void()> then) {
    core::run_on(then_on, std::move(then));
  }
};

// What history counts.
struct HistoryMetrics {
  explicit HistoryMetrics(metrics::Registry& registry);
  metrics::Counter& events_accepted;  // events durably stored and handed to fan-out
  metrics::Counter& commits;          // appends to the log (group commits, with a writer thread)
  metrics::Counter& write_errors;     // failed appends (each fails its publishes with 503)
};

// The per-stream event history: queues appends and replays for an EventLog, runs them on the
// threads the log asks for (see EventLog::Threading), hands committed events to fan-out and
// answers the callers. No disk access ever runs on an I/O thread.
class History {
 public:
  using AppendDone = std::function<void(AppendResult)>;
  using ReplayDone = std::function<void(std::shared_ptr<Replay>)>;  // null on read failure

  // `ids`: who numbers events when the log does not (a cluster bus); null when history does.
  History(std::unique_ptr<EventLog> log, HistoryOptions options, metrics::Registry& registry,
          IdAuthority* ids = nullptr);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Applies age retention once and starts the threads. Throws on failure.
  void start(CommitListener& listener);

  // Thread-safe. `done` runs on `executor` (or, when the executor is empty, on the writer
  // thread, or before append returns when the log runs on the caller's thread) once the
  // drafts are stored (or failed); when the log runs on the caller's thread and the caller
  // runs `executor`, before append returns. Drafts of one call commit together, with `positions`.
  // Drafts carrying an id (from a cluster bus) keep it, and one not above its stream's last
  // id is a re-delivery and skipped, so applying a bus log twice changes nothing.
  core::Admission append(std::vector<core::EventDraft> drafts,
                         boost::asio::any_io_executor executor, AppendDone done,
                         std::vector<core::LogPosition> positions = {});

  // Thread-safe. Reads what a client resuming from `from` missed, one page within `limit`
  // (Replay::more tells whether more follow); `done` runs on `executor` (or, when the
  // executor is empty, on the reader thread, or before replay returns when the log runs on
  // the caller's thread, unless the id authority must be asked: then on a thread of its own).
  // False when the replay cannot be queued (stopped, or too many waiting).
  bool replay(std::string stream, core::ResumePoint from, boost::asio::any_io_executor executor,
              ReplayDone done, PageLimit limit = {});

  // Finishes every queued append, then stops the threads.
  void stop();

  // Where the log of each source (a cluster bus's partitions) was applied up to, as stored
  // with the events. Call before start: a bus resumes reading from here.
  std::vector<core::LogPosition> applied_positions() { return log_->positions(); }

  // The log takes writes: started, and the last commit (or probe) succeeded.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

 private:
  class Runner;
  class CallerThreadRunner;
  class ThreadedRunner;

  // What runs a log's calls; chosen once, by the log's threading.
  std::unique_ptr<Runner> make_runner();
  // Age retention while running: a failure is logged, and the next round tries again.
  void retain();
  // Appends to the log and, when `fan_out`, hands the new events to fan-out (a log that
  // syncs in groups has them handed over once synced). Nothing when the log failed (`error`
  // says why; counted and logged).
  std::optional<Appended> commit(std::span<core::EventDraft> drafts,
                                 std::span<const core::LogPosition> positions, std::string& error,
                                 bool fan_out = true);
  void hand_to_fanout(Appended& appended);
  // A failure found after the append (a group sync, which the log reports): counted, and
  // not ready until the log takes writes again.
  void note_late_failure();
  // Whether building a replay of `page` asks the id authority (which may block).
  bool asks_authority(const Page& page, core::ResumePoint from) const;
  // A page of a replay, from what the log read after the client's id.
  std::shared_ptr<Replay> replay_page(const std::string& stream, core::ResumePoint from, Page page);

  std::unique_ptr<EventLog> log_;
  HistoryOptions options_;
  HistoryMetrics metrics_;
  IdAuthority* ids_;
  CommitListener* listener_ = nullptr;
  std::atomic<bool> ready_{false};
  std::unique_ptr<Runner> runner_;
};

}  // namespace ssehub::history
