#include "reports/report_service.hpp"

#include "core/ids.hpp"
#include "core/run_on.hpp"
#include "core/thread.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace ssehub::reports {

namespace {
// A change younger than this may still be publishing its own event; the sweep leaves it be.
constexpr std::int64_t kSweepGraceMs = 5000;
}  // namespace

std::string report_stream(const std::string& user_id) { return core::stream_key("v4", user_id); }

core::EventDraft created_event(const domain::Report& report) {
  core::EventDraft draft;
  draft.stream = report_stream(report.user_id);
  draft.type = "report_created";
  draft.data = domain::to_json(report).dump();
  draft.dedupe_key = "report:" + report.report_id + ":created";
  return draft;
}

core::EventDraft status_event(const domain::Report& report) {
  core::EventDraft draft;
  draft.stream = report_stream(report.user_id);
  draft.type = "report_status_update";
  draft.data = nlohmann::json{{"id", report.report_id},
                              {"status", domain::to_string(report.status)},
                              {"updatedAt", domain::format_rfc3339(report.updated_ms)}}
                   .dump();
  draft.dedupe_key = "report:" + report.report_id + ":" + std::to_string(report.updated_ms);
  return draft;
}

ReportService::ReportService(store::Store& store, core::BlockingPool& pool, bus::EventBus& bus,
                             metrics::Registry& registry, std::chrono::milliseconds probe_interval)
    : store_(store),
      pool_(pool),
      bus_(bus),
      transitions_(registry.counter("ssehub_report_transitions_total", "Report status changes applied.")),
      probe_interval_(probe_interval) {
  boost::asio::post(background_, [] { core::name_this_thread("reports"); });
}

ReportService::~ReportService() { stop(); }

bool ReportService::submit(const std::string& user_id, std::function<void()> job) {
  return pool_.submit(std::hash<std::string>{}(user_id), std::move(job));
}

template <typename Fn>
void ReportService::guarded(boost::asio::any_io_executor executor, const Done& done, Fn&& fn) {
  try {
    fn();
    store_ready_ = true;
  } catch (const store::StoreUnavailable& e) {
    store_ready_ = false;
    spdlog::warn("reports: {}", e.what());
    ReportOutcome outcome{.kind = ReportOutcome::Kind::Unavailable, .detail = e.what()};
    core::run_on(executor, [done, outcome = std::move(outcome)] { done(outcome); });
  }
}

std::int64_t ReportService::next_creation_ms() {
  // Reports are listed by creation time: two created in one millisecond must still differ.
  std::int64_t now = core::unix_millis_now();
  std::int64_t last = last_creation_ms_.load();
  for (;;) {
    const std::int64_t next = std::max(now, last + 1);
    if (last_creation_ms_.compare_exchange_weak(last, next)) return next;
  }
}

void ReportService::create(std::string user_id, boost::asio::any_io_executor executor, Done done) {
  const bool queued = submit(user_id, [this, user_id, executor, done] {
    guarded(executor, done, [&] {
      domain::Report report;
      report.user_id = user_id;
      report.report_id = core::random_uuid();
      report.status = domain::ReportStatus::Pending;
      report.created_ms = report.updated_ms = next_creation_ms();
      store_.create(report);
      publish_then(report, created_event(report), [executor, done, report] {
        core::run_on(executor, [done, report] {
          done(ReportOutcome{.kind = ReportOutcome::Kind::Done, .report = report});
        });
      });
    });
  });
  if (!queued)
    core::run_on(executor, [done] { done({.kind = ReportOutcome::Kind::Overloaded}); });
}

void ReportService::list(std::string user_id, boost::asio::any_io_executor executor, Done done) {
  const bool queued = submit(user_id, [this, user_id, executor, done] {
    guarded(executor, done, [&] {
      ReportOutcome outcome{.kind = ReportOutcome::Kind::Done, .reports = store_.list_by_user(user_id)};
      core::run_on(executor, [done, outcome = std::move(outcome)] { done(outcome); });
    });
  });
  if (!queued)
    core::run_on(executor, [done] { done({.kind = ReportOutcome::Kind::Overloaded}); });
}

void ReportService::change_status(std::string user_id, std::string report_id,
                                  domain::ReportStatus to, boost::asio::any_io_executor executor,
                                  Done done) {
  const bool queued = submit(user_id, [this, user_id, report_id, to, executor, done] {
    guarded(executor, done, [&] {
      auto reply = [&](ReportOutcome outcome) {
        outcome.requested = to;
        core::run_on(executor, [done, outcome = std::move(outcome)] { done(outcome); });
      };
      auto current = store_.get(report_id);
      // Another user's report is reported as missing: its existence is not ours to reveal.
      if (!current || current->user_id != user_id)
        return reply({.kind = ReportOutcome::Kind::NotFound});
      if (!domain::is_valid_transition(current->status, to))
        return reply({.kind = ReportOutcome::Kind::InvalidTransition, .report = *current});
      const std::int64_t updated_ms = std::max(core::unix_millis_now(), current->updated_ms + 1);
      auto outcome = store_.transition(user_id, report_id, current->status, to, updated_ms);
      switch (outcome.kind) {
        case store::TransitionOutcome::Kind::NotFound:
          return reply({.kind = ReportOutcome::Kind::NotFound});
        case store::TransitionOutcome::Kind::Conflict:
          // Another process changed it between our read and write: the conditional write
          // refused, so exactly one of the racing changes won.
          return reply({.kind = ReportOutcome::Kind::InvalidTransition,
                        .report = outcome.report,
                        .detail = "the report changed concurrently"});
        case store::TransitionOutcome::Kind::Applied: break;
      }
      transitions_.add();
      const domain::Report updated = outcome.report;
      publish_then(updated, status_event(updated), [executor, done, updated, to] {
        core::run_on(executor, [done, updated, to] {
          done(ReportOutcome{.kind = ReportOutcome::Kind::Done, .report = updated, .requested = to});
        });
      });
    });
  });
  if (!queued)
    core::run_on(executor, [done] { done({.kind = ReportOutcome::Kind::Overloaded}); });
}

void ReportService::apply_change(std::string report_id, domain::ReportStatus to,
                                 boost::asio::any_io_executor executor, Done done) {
  // The owner is not known yet: look it up on the report's lane, then continue on the
  // owner's lane so the change is ordered with the owner's other operations.
  const bool queued = pool_.submit(std::hash<std::string>{}(report_id), [=, this] {
    guarded(executor, done, [&] {
      auto report = store_.get(report_id);
      if (!report)
        return core::run_on(executor, [done, to] {
          done({.kind = ReportOutcome::Kind::NotFound, .requested = to});
        });
      change_status(report->user_id, report_id, to, executor, done);
    });
  });
  if (!queued) core::run_on(executor, [done] { done({.kind = ReportOutcome::Kind::Overloaded}); });
}

void ReportService::publish_then(const domain::Report& report, core::EventDraft draft,
                                 std::function<void()> then) {
  std::vector<core::EventDraft> drafts;
  drafts.push_back(std::move(draft));
  auto on_published = [this, report, then](history::AppendResult result) {
    if (result.ok) {
      auto mark = [this, report] {
        try {
          store_.mark_event_published(report.report_id, report.updated_ms);
        } catch (const store::StoreUnavailable& e) {
          spdlog::warn("reports: {} stays marked for the sweep: {}", report.report_id, e.what());
        }
      };
      // While shutting down the pool takes no jobs; this thread is not an I/O thread, so
      // the mark is made here rather than left for the next start to publish twice.
      if (!submit(report.user_id, mark)) mark();
    } else {
      spdlog::warn("reports: event of {} not stored yet ({}); the sweep will publish it",
                   report.report_id, result.error);
    }
    then();
  };
  const auto admission = bus_.publish(std::move(drafts), background_.get_executor(), on_published);
  if (admission != core::Admission::Queued) {
    spdlog::warn("reports: event of {} deferred to the sweep (history busy)", report.report_id);
    then();
  }
}

void ReportService::start(std::chrono::milliseconds sweep_interval) {
  sweep_interval_ = sweep_interval;
  next_sweep_ = core::SteadyClock::now() + sweep_interval;
  pool_.submit(0, [this] { sweep(); });
  boost::asio::post(background_, [this] { schedule_probe(); });
}

void ReportService::schedule_probe() {
  if (stopping_) return;
  sweep_timer_.expires_after(probe_interval_);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    // An expiry collected in the same reactor pass as stop()'s cancel arrives after it, with
    // success: only the flag tells it to stop.
    if (ec || stopping_) return;
    const auto now = core::SteadyClock::now();
    if (now >= next_sweep_) {
      next_sweep_ = now + sweep_interval_;
      pool_.submit(0, [this] { sweep(); });
    } else {
      pool_.submit(0, [this] { store_ready_ = store_.ping(); });
    }
    schedule_probe();
  });
}

void ReportService::sweep() {
  try {
    store_ready_ = store_.ping();
    if (!store_ready_) return;
    const std::int64_t cutoff = core::unix_millis_now() - kSweepGraceMs;
    for (const domain::Report& report : store_.list_event_pending()) {
      if (report.updated_ms > cutoff) continue;
      const bool created = report.created_ms == report.updated_ms;
      spdlog::info("reports: publishing the unpublished event of {}", report.report_id);
      publish_then(report, created ? created_event(report) : status_event(report), [] {});
    }
  } catch (const store::StoreUnavailable& e) {
    store_ready_ = false;
    spdlog::warn("reports: recovery sweep failed: {}", e.what());
  }
}

void ReportService::stop() {
  boost::asio::post(background_, [this] {
    stopping_ = true;
    sweep_timer_.cancel();
  });
  background_.join();
}

}  // namespace ssehub::reports
