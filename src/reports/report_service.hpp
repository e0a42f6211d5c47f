#pragma once

#include "bus/event_bus.hpp"
#include "domain/report.hpp"
#include "metrics/metrics.hpp"
#include "core/blocking_pool.hpp"
#include "store/store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ssehub::reports {

// The stream a user's report events go to.
std::string report_stream(const std::string& user_id);
// `report_created` (data: the report) and `report_status_update` (data: {id, status,
// updatedAt}) events.
core::EventDraft created_event(const domain::Report& report);
core::EventDraft status_event(const domain::Report& report);

struct ReportOutcome {
  enum class Kind { Done, NotFound, InvalidTransition, Unavailable, Overloaded } kind = Kind::Done;
  domain::Report report;                // Done (create, change) or InvalidTransition (as it is now)
  std::vector<domain::Report> reports;  // Done (list)
  domain::ReportStatus requested = domain::ReportStatus::Pending;
  std::string detail;
};

// The v4 use cases: create, list and move reports, each status change paired with its event.
// Store calls run on the blocking pool, one user's calls in order; a change is answered
// after its event is durable in history. A report whose event could not be published stays
// marked in the store and is published by the recovery sweep (at start and periodically),
// so a stored change is never without its event.
class ReportService {
 public:
  using Done = std::function<void(ReportOutcome)>;

  // How often readiness is probed: /readyz must notice an outage (and its end) quickly.
  static constexpr std::chrono::milliseconds kDefaultProbeInterval{2000};

  ReportService(store::Store& store, core::BlockingPool& pool, bus::EventBus& bus, metrics::Registry& registry,
                std::chrono::milliseconds probe_interval = kDefaultProbeInterval);
  ~ReportService();

  // Each `done` runs on `executor`, or on a store thread when `executor` is empty.
  void create(std::string user_id, boost::asio::any_io_executor executor, Done done);
  void list(std::string user_id, boost::asio::any_io_executor executor, Done done);
  void change_status(std::string user_id, std::string report_id, domain::ReportStatus to,
                     boost::asio::any_io_executor executor, Done done);

  // A change that names only the report (a v4_messages record): the owner is looked up.
  void apply_change(std::string report_id, domain::ReportStatus to,
                    boost::asio::any_io_executor executor, Done done);

  // Starts the recovery sweep and the readiness probe.
  void start(std::chrono::milliseconds sweep_interval);
  // Safe to call more than once.
  void stop();
  bool store_ready() const { return store_ready_.load(std::memory_order_relaxed); }

 private:
  bool submit(const std::string& user_id, std::function<void()> job);
  std::int64_t next_creation_ms();
  void publish_then(const domain::Report& report, core::EventDraft draft,
                    std::function<void()> then);
  void sweep();
  void schedule_probe();
  template <typename Fn>
  void guarded(boost::asio::any_io_executor executor, const Done& done, Fn&& fn);

  store::Store& store_;
  core::BlockingPool& pool_;
  bus::EventBus& bus_;
  metrics::Counter& transitions_;  // report status changes applied
  std::atomic<bool> store_ready_{true};
  std::atomic<std::int64_t> last_creation_ms_{0};
  // Completions of event publishes and the sweep timer run here, never on I/O threads.
  boost::asio::thread_pool background_{1};
  boost::asio::steady_timer sweep_timer_{background_};
  // Set on the background thread by stop(): a probe whose expiry was already collected when
  // the cancel ran sees it and does not re-arm, so join() can return.
  bool stopping_ = false;
  std::chrono::milliseconds probe_interval_;
  std::chrono::milliseconds sweep_interval_{30000};
  core::SteadyClock::time_point next_sweep_{};
};

}  // namespace ssehub::reports
