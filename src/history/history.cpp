#include "history/history.hpp"

#include "core/blocking_pool.hpp"
#include "core/run_on.hpp"
#include "core/thread.hpp"

#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

namespace ssehub::history {

namespace {

constexpr std::size_t kMaxDraftsPerCommit = 8192;
constexpr std::size_t kMaxQueuedReplays = 100000;

// Runs `done(value)` on `executor`, or right here when there is none.
template <class Done, class Value>
void answer_on(const boost::asio::any_io_executor& executor, Done done, Value value) {
  core::run_on(executor, [done = std::move(done), value = std::move(value)]() mutable {
    done(std::move(value));
  });
}

// The id a read continues after: events after it are what a client resuming from `from` missed.
std::uint64_t read_after(core::ResumePoint from) {
  return from.earliest ? 0 : from.after_id;
}

// A publish waiting for its commit.
struct PendingAppend {
  std::vector<core::EventDraft> drafts;
  boost::asio::any_io_executor executor;
  History::AppendDone done;
  std::vector<core::LogPosition> positions;
};

// The drafts and positions of a batch, to commit together. Each append keeps its drafts'
// count (their contents move).
std::pair<std::vector<core::EventDraft>, std::vector<core::LogPosition>> merged(
    std::vector<PendingAppend>& batch) {
  std::pair<std::vector<core::EventDraft>, std::vector<core::LogPosition>> all;
  for (auto& pending : batch) {
    std::move(pending.drafts.begin(), pending.drafts.end(), std::back_inserter(all.first));
    all.second.insert(all.second.end(), pending.positions.begin(), pending.positions.end());
  }
  return all;
}

// The answer to an append, from what the log made of its drafts `first` to `first + count`.
AppendResult result_of(const Appended& appended, std::size_t first, std::size_t count) {
  AppendResult result{.ok = true, .ids = {}, .already_stored = 0, .error = {}};
  result.ids.assign(appended.ids.begin() + static_cast<std::ptrdiff_t>(first),
                    appended.ids.begin() + static_cast<std::ptrdiff_t>(first + count));
  const auto& before = appended.stored_before;
  result.already_stored =
      static_cast<std::size_t>(std::lower_bound(before.begin(), before.end(), first + count) -
                               std::lower_bound(before.begin(), before.end(), first));
  return result;
}

// Whether `executor` is an I/O thread's context that this thread is running.
bool runs_here(const boost::asio::any_io_executor& executor) {
  const auto* io = executor.target<boost::asio::io_context::executor_type>();
  return io != nullptr && io->running_in_this_thread();
}

// Up to this many deliveries of a commit (streams per event, summed), its publishers are
// answered behind them (see answer_all). A delivery is a write per stream: behind a few, an answer
// waits microseconds; behind one user's thousands of streams, milliseconds.
constexpr std::size_t kAnswersBehindDeliveriesUpTo = 64;

// Answers every append of a batch committed together (`appended` null: each failed with
// `error`), grouped per executor: one wake-up of each I/O thread per commit, not one per
// publisher. The committing thread's own answers are posted too, so they queue behind the
// deliveries the fan-out just posted to its streams, and a publisher's next request comes
// after its event was written (a lower p99 with 4 publishers: BENCHMARKS.md, "Answers after
// the deliveries"). When a thread that delivers the commit is behind (not running), the
// answers wait until it delivered, through the listener: a publisher then holds its next
// publish back instead of queueing more for a thread that cannot send them (fewer late
// deliveries when a CPU is taken away: BENCHMARKS.md, "A new machine; ... answers that wait
// for a thread behind"). A commit with more deliveries is answered in place instead, before its
// deliveries, which would hold the answers back.
void answer_all(std::vector<PendingAppend>& batch, const Appended* appended,
                const std::string& error, CommitListener& listener) {
  const bool behind_deliveries =
      appended == nullptr || appended->deliveries <= kAnswersBehindDeliveriesUpTo;
  const core::Hop hop = behind_deliveries ? core::Hop::Queue : core::Hop::UnlessHere;
  const std::uint64_t lagging = behind_deliveries && appended != nullptr ? appended->lagging : 0;
  auto give = [&](const boost::asio::any_io_executor& executor, auto answer) {
    if (lagging != 0 && executor)
      return listener.after_delivered(lagging, executor, std::move(answer));
    core::run_on(executor, std::move(answer), hop);
  };
  using Answer = std::pair<History::AppendDone, AppendResult>;
  std::vector<std::pair<boost::asio::any_io_executor, std::vector<Answer>>> answers;
  std::size_t first = 0;
  for (auto& pending : batch) {
    AppendResult result{.ok = false, .ids = {}, .already_stored = 0, .error = error};
    if (appended != nullptr) result = result_of(*appended, first, pending.drafts.size());
    first += pending.drafts.size();
    if (batch.size() == 1) {
      give(pending.executor, [done = std::move(pending.done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
      return;
    }
    auto group = std::find_if(answers.begin(), answers.end(),
                              [&](const auto& entry) { return entry.first == pending.executor; });
    if (group == answers.end())
      group = answers.emplace(answers.end(), pending.executor, std::vector<Answer>{});
    group->second.emplace_back(std::move(pending.done), std::move(result));
  }
  // Given in place, this thread's answers go last: giving one writes to a publisher's socket,
  // and the client that wakes can take this thread's CPU before the others are posted.
  if (!behind_deliveries)
    std::stable_partition(answers.begin(), answers.end(),
                          [](const auto& entry) { return !runs_here(entry.first); });
  for (auto& [executor, group] : answers) {
    give(executor, [group = std::move(group)]() mutable {
      for (auto& [done, result] : group) done(std::move(result));
    });
  }
}

}  // namespace

// How History runs its log's calls: on the callers' threads, or on threads of its own.
class History::Runner {
 public:
  virtual ~Runner() = default;
  virtual void start() = 0;
  virtual core::Admission append(std::vector<core::EventDraft> drafts,
                                 boost::asio::any_io_executor executor, AppendDone done,
                                 std::vector<core::LogPosition> positions) = 0;
  virtual bool replay(std::string stream, core::ResumePoint from,
                      boost::asio::any_io_executor executor, ReplayDone done, PageLimit limit) = 0;
  virtual void stop() = 0;
};

// Every call on the caller's thread, one at a time under one lock: a publish is numbered,
// stored and handed to fan-out before the next, so streams get each stream's events in id
// order whichever thread published them. Age retention runs on a thread of its own, and so
// does a replay that must ask the id authority, which may wait for a broker.
//
// Publishers do not wait for each other (combining): the thread that finds no commit under
// way commits its own publish at once and answers it in place; one that finds a commit under
// way queues its publish and goes back to its other connections, and the committing thread
// takes what queued in one commit (one journal write, one fan-out) before it lets go,
// answering each I/O thread with one post. On a few cores, sleeping on the lock instead costs
// a context switch per collision and leaves the waiting thread's connections idle.
class History::CallerThreadRunner final : public History::Runner {
 public:
  explicit CallerThreadRunner(History& history) : history_(history) {
    // One thread is enough: an authority whose broker is known down answers at once.
    if (history.ids_ != nullptr)
      authority_questions_.emplace("history-ask", 1, kMaxQueuedReplays);
  }

  void start() override {
    {
      std::lock_guard lock(mutex_);
      started_ = true;
    }
    trimmer_ = core::named_thread("history-trim", [this] { run_trimmer(); });
  }

  core::Admission append(std::vector<core::EventDraft> drafts,
                         boost::asio::any_io_executor executor, AppendDone done,
                         std::vector<core::LogPosition> positions) override {
    if (stopped_.load()) return core::Admission::Stopped;
    if (!started_.load()) return core::Admission::Unavailable;
    PendingAppend own{std::move(drafts), std::move(executor), std::move(done),
                      std::move(positions)};
    if (!committing_.exchange(true)) {
      commit_as_combiner(&own);
      return core::Admission::Queued;
    }
    {
      std::lock_guard lock(queue_mutex_);
      if (queued_drafts_ + own.drafts.size() > history_.options_.queue_limit)
        return core::Admission::QueueFull;
      queued_drafts_ += own.drafts.size();
      queue_.push_back(std::move(own));
      queued_.fetch_add(1);
    }
    // The committing thread may have let go before this one was queued.
    if (!committing_.exchange(true)) commit_as_combiner(nullptr);
    return core::Admission::Queued;
  }

  bool replay(std::string stream, core::ResumePoint from, boost::asio::any_io_executor executor,
              ReplayDone done, PageLimit limit) override {
    Page page;
    {
      std::lock_guard lock(mutex_);
      if (stopped_ || !started_) return false;
      page = history_.log_->read(stream, read_after(from), limit);
    }
    if (history_.asks_authority(page, from)) {
      return authority_questions_->submit(
          std::hash<std::string>{}(stream),
          [this, stream = std::move(stream), from, page = std::move(page),
           executor = std::move(executor), done = std::move(done)]() mutable {
            answer_on(executor, std::move(done),
                      history_.replay_page(stream, from, std::move(page)));
          });
    }
    answer_on(executor, std::move(done), history_.replay_page(stream, from, std::move(page)));
    return true;
  }

  void stop() override {
    std::promise<void> synced;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      // Syncs are awaited in order: once this one is done, every publish has its answer.
      if (history_.log_->syncs_in_groups())
        history_.log_->when_synced([&synced](const std::string&) { synced.set_value(); });
      else
        synced.set_value();
    }
    synced.get_future().wait();
    if (authority_questions_) authority_questions_->stop();
    stop_trimmer_.notify_all();
    if (trimmer_.joinable()) trimmer_.join();
  }

 private:
  // Age retention, and while the log refuses writes a probe every second: readiness comes
  // back when the storage does, without waiting for a publish.
  void run_trimmer() {
    std::unique_lock lock(mutex_);
    auto next_trim = core::SteadyClock::now() + history_.options_.trim_interval;
    while (!stopped_) {
      // Every second at least: a publish that found the log refusing is not a wake-up.
      stop_trimmer_.wait_until(
          lock, std::min(next_trim, core::SteadyClock::now() + std::chrono::seconds(1)));
      if (stopped_) return;
      if (!history_.ready_) probe();
      if (core::SteadyClock::now() >= next_trim) {
        history_.retain();
        next_trim = core::SteadyClock::now() + history_.options_.trim_interval;
      }
    }
  }

  void probe() {
    try {
      history_.log_->probe();
      spdlog::info("history: the log takes writes again");
      history_.ready_ = true;
    } catch (const std::exception& e) {
      spdlog::debug("history: the log still refuses writes: {}", e.what());
    }
  }

  // Runs with committing_ held: commits `own` (when not null) with what other threads
  // queued, until nothing is queued, then lets go (and takes over again when a publish was
  // queued as it let go).
  void commit_as_combiner(PendingAppend* own) {
    std::vector<PendingAppend> batch;
    for (;;) {
      if (own != nullptr) batch.push_back(std::move(*own)), own = nullptr;
      take_queued(batch);
      if (batch.empty()) {
        committing_.store(false);
        // Anything queued before the store above is seen here; anything after, by its
        // publisher's own exchange.
        if (queued_.load() == 0 || committing_.exchange(true)) return;
        continue;
      }
      commit_batch(batch);
      batch.clear();
    }
  }

  // Moves what other threads queued into `batch`, up to a commit's worth.
  void take_queued(std::vector<PendingAppend>& batch) {
    if (queued_.load() == 0) return;
    std::lock_guard lock(queue_mutex_);
    std::size_t drafts = 0, taken = 0;
    while (!queue_.empty() && drafts < kMaxDraftsPerCommit) {
      drafts += queue_.front().drafts.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      ++taken;
    }
    queued_drafts_ -= drafts;
    queued_.fetch_sub(taken);
  }

  // One commit for the whole batch, answered when stored (or, for a log that syncs in
  // groups, once synced).
  void commit_batch(std::vector<PendingAppend>& batch) {
    std::string error;
    std::optional<Appended> appended;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) {
        error = "history: stopped";
      } else {
        // Fan-out under the lock, so that streams get events in id order; for a log that
        // syncs in groups, in the order of the syncs, on its thread.
        const bool now = !history_.log_->syncs_in_groups();
        if (batch.size() == 1) {
          appended = history_.commit(batch.front().drafts, batch.front().positions, error, now);
        } else {
          auto [drafts, positions] = merged(batch);
          appended = history_.commit(drafts, positions, error, now);
        }
      }
      if (appended && history_.log_->syncs_in_groups()) {
        // Asked under the lock, so that syncs are awaited in append order.
        history_.log_->when_synced([this, batch = std::move(batch),
                                    appended = std::move(*appended)](const std::string& failure) mutable {
          if (failure.empty()) {
            history_.hand_to_fanout(appended);
          } else {
            history_.note_late_failure();
          }
          answer_all(batch, failure.empty() ? &appended : nullptr, failure, *history_.listener_);
        });
        return;
      }
    }
    answer_all(batch, appended ? &*appended : nullptr, error, *history_.listener_);
  }

  History& history_;
  std::mutex mutex_;  // the log, and started_/stopped_ changes
  std::condition_variable stop_trimmer_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::thread trimmer_;
  std::optional<core::BlockingPool> authority_questions_;  // with an id authority only

  // Whether a thread is committing: the combiner's role, held without sleeping.
  std::atomic<bool> committing_{false};
  std::mutex queue_mutex_;
  std::deque<PendingAppend> queue_;  // publishes waiting for the committing thread
  std::size_t queued_drafts_ = 0;    // in queue_, for its limit
  // Appends in queue_, read without the lock: one may carry only bus positions, no draft.
  std::atomic<std::size_t> queued_{0};
};

// For a log that waits for a disk: appends queue for a writer thread, which passes all that
// is queued to one append (group commit) and then answers the publishers grouped per I/O
// thread; replays queue for a reader thread; the log's maintenance has a thread of its own.
class History::ThreadedRunner final : public History::Runner {
 public:
  explicit ThreadedRunner(History& history) : history_(history) {}

  void start() override {
    writer_ = core::named_thread("history-write", [this] { run_writer(); });
    reader_ = core::named_thread("history-read", [this] { run_reader(); });
    if (history_.log_->maintenance_period() > std::chrono::milliseconds::zero())
      maintainer_ = core::named_thread("history-ckpt", [this] { run_maintainer(); });
  }

  core::Admission append(std::vector<core::EventDraft> drafts,
                         boost::asio::any_io_executor executor, AppendDone done,
                         std::vector<core::LogPosition> positions) override {
    {
      std::lock_guard lock(append_mutex_);
      if (stopping_) return core::Admission::Stopped;
      if (queued_drafts_ + drafts.size() > history_.options_.queue_limit)
        return core::Admission::QueueFull;
      queued_drafts_ += drafts.size();
      appends_.push_back(
          {std::move(drafts), std::move(executor), std::move(done), std::move(positions)});
    }
    append_cv_.notify_one();
    return core::Admission::Queued;
  }

  bool replay(std::string stream, core::ResumePoint from, boost::asio::any_io_executor executor,
              ReplayDone done, PageLimit limit) override {
    {
      std::lock_guard lock(replay_mutex_);
      if (replay_stopping_ || replays_.size() >= kMaxQueuedReplays) return false;
      replays_.push_back({std::move(stream), from, limit, std::move(executor), std::move(done)});
    }
    replay_cv_.notify_one();
    return true;
  }

  void stop() override {
    stop_thread(append_mutex_, stopping_, append_cv_, writer_);
    stop_thread(replay_mutex_, replay_stopping_, replay_cv_, reader_);
    stop_thread(maintenance_mutex_, maintenance_stopping_, maintenance_cv_, maintainer_);
  }

 private:
  struct PendingReplay {
    std::string stream;
    core::ResumePoint from;
    PageLimit limit;
    boost::asio::any_io_executor executor;
    ReplayDone done;
  };

  static void stop_thread(std::mutex& mutex, bool& stopping, std::condition_variable& cv,
                          std::thread& thread) {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }

  void run_writer();
  // Waits for appends until `deadline`, and takes up to a commit's worth; nothing once
  // stopping with none left.
  std::optional<std::vector<PendingAppend>> take_batch(core::SteadyClock::time_point deadline);
  // Readiness follows the disk even when nobody publishes: a full disk shows before a
  // publish fails, and its recovery shows without waiting for one.
  std::chrono::seconds probe();
  void commit(std::vector<PendingAppend>& batch);
  void run_reader();
  void run_maintainer();

  History& history_;

  std::mutex append_mutex_;
  std::condition_variable append_cv_;
  std::deque<PendingAppend> appends_;
  std::size_t queued_drafts_ = 0;
  bool stopping_ = false;

  std::mutex replay_mutex_;
  std::condition_variable replay_cv_;
  std::deque<PendingReplay> replays_;
  bool replay_stopping_ = false;

  std::mutex maintenance_mutex_;
  std::condition_variable maintenance_cv_;
  bool maintenance_stopping_ = false;

  std::thread writer_, reader_, maintainer_;
};

void History::ThreadedRunner::run_writer() {
  auto next_trim = core::SteadyClock::now() + history_.options_.trim_interval;
  auto next_probe = core::SteadyClock::now() + std::chrono::seconds(1);
  for (;;) {
    auto batch = take_batch(std::min(next_trim, next_probe));
    if (!batch) return;
    if (core::SteadyClock::now() >= next_trim) {
      history_.retain();
      next_trim = core::SteadyClock::now() + history_.options_.trim_interval;
    }
    if (!batch->empty())
      commit(*batch);
    else if (core::SteadyClock::now() >= next_probe)
      next_probe = core::SteadyClock::now() + probe();
  }
}

std::optional<std::vector<PendingAppend>>
History::ThreadedRunner::take_batch(core::SteadyClock::time_point deadline) {
  std::vector<PendingAppend> batch;
  std::unique_lock lock(append_mutex_);
  append_cv_.wait_until(lock, deadline, [&] { return stopping_ || !appends_.empty(); });
  std::size_t drafts = 0;
  while (!appends_.empty() && drafts < kMaxDraftsPerCommit) {
    drafts += appends_.front().drafts.size();
    batch.push_back(std::move(appends_.front()));
    appends_.pop_front();
  }
  queued_drafts_ -= drafts;
  if (batch.empty() && stopping_) return std::nullopt;
  return batch;
}

std::chrono::seconds History::ThreadedRunner::probe() {
  std::atomic<bool>& ready = history_.ready_;
  try {
    history_.log_->probe();
    if (!ready) spdlog::info("history: the database takes writes again");
    ready = true;
  } catch (const std::exception& e) {
    if (ready) spdlog::error("history: the database refuses writes: {}", e.what());
    ready = false;
  }
  return ready ? std::chrono::seconds(5) : std::chrono::seconds(1);
}

void History::ThreadedRunner::commit(std::vector<PendingAppend>& batch) {
  auto [drafts, positions] = merged(batch);
  std::string error;
  const auto appended = history_.commit(drafts, positions, error);
  answer_all(batch, appended ? &*appended : nullptr, error, *history_.listener_);
}

void History::ThreadedRunner::run_reader() {
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
      Page page = history_.log_->read(request.stream, read_after(request.from), request.limit);
      replay = history_.replay_page(request.stream, request.from, std::move(page));
    } catch (const std::exception& e) {
      spdlog::error("history: replay of {} failed: {}", request.stream, e.what());
    }
    answer_on(request.executor, std::move(request.done), std::move(replay));
  }
}

void History::ThreadedRunner::run_maintainer() {
  const auto period = history_.log_->maintenance_period();
  std::unique_lock lock(maintenance_mutex_);
  while (!maintenance_stopping_) {
    maintenance_cv_.wait_for(lock, period);
    lock.unlock();
    history_.log_->maintain();
    lock.lock();
  }
}

HistoryMetrics::HistoryMetrics(metrics::Registry& registry)
    : events_accepted(registry.counter("ssehub_events_accepted_total",
                                       "Events durably stored and fanned out.")),
      commits(
          registry.counter("ssehub_history_commits_total", "Group commits of the history writer.")),
      write_errors(
          registry.counter("ssehub_history_write_errors_total", "Failed history group commits.")) {}

History::History(std::unique_ptr<EventLog> log, HistoryOptions options, metrics::Registry& registry,
                 IdAuthority* ids)
    : log_(std::move(log)),
      options_(options),
      metrics_(registry),
      ids_(ids),
      runner_(make_runner()) {}

History::~History() {
  stop();
}

std::unique_ptr<History::Runner> History::make_runner() {
  switch (log_->threading()) {
    case EventLog::Threading::CallerThread: return std::make_unique<CallerThreadRunner>(*this);
    case EventLog::Threading::OwnThreads: break;
  }
  return std::make_unique<ThreadedRunner>(*this);
}

void History::start(CommitListener& listener) {
  listener_ = &listener;
  log_->retain();
  ready_ = true;
  runner_->start();
}

core::Admission History::append(std::vector<core::EventDraft> drafts,
                                boost::asio::any_io_executor executor, AppendDone done,
                                std::vector<core::LogPosition> positions) {
  return runner_->append(std::move(drafts), std::move(executor), std::move(done),
                         std::move(positions));
}

bool History::replay(std::string stream, core::ResumePoint from,
                     boost::asio::any_io_executor executor, ReplayDone done, PageLimit limit) {
  return runner_->replay(std::move(stream), from, std::move(executor), std::move(done), limit);
}

void History::stop() {
  runner_->stop();
  ready_ = false;
}

std::optional<Appended> History::commit(std::span<core::EventDraft> drafts,
                                        std::span<const core::LogPosition> positions,
                                        std::string& error, bool fan_out) {
  std::optional<Appended> appended;
  try {
    appended = log_->append(drafts, positions);
    metrics_.commits.add();
    ready_ = true;
  } catch (const std::exception& e) {
    error = e.what();
    metrics_.write_errors.add();
    ready_ = false;
    spdlog::error("history: commit of {} events failed: {}", drafts.size(), error);
    return std::nullopt;
  }
  if (fan_out) hand_to_fanout(*appended);
  return appended;
}

void History::hand_to_fanout(Appended& appended) {
  // Live streams first, then the publishers: once a publisher holds its answer, the event
  // is already on its way to every open stream.
  if (appended.committed.empty()) return;
  metrics_.events_accepted.add(appended.committed.size());
  const auto fanned = listener_->on_commit(std::move(appended.committed));
  appended.deliveries = fanned.deliveries;
  appended.lagging = fanned.lagging;
}

void History::note_late_failure() {
  metrics_.write_errors.add();
  ready_ = false;
}

void History::retain() {
  try {
    log_->retain();
  } catch (const std::exception& e) {
    spdlog::warn("history: age retention failed: {}", e.what());
  }
}

}  // namespace ssehub::history
