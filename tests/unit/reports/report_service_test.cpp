#include "reports/report_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace ssehub::reports {
namespace {

using namespace std::chrono_literals;

// Only ping() is reached while no report is written: the rest must not be called.
class PingOnlyStore final : public store::Store {
 public:
  void create(const store::Report&) override { unexpected(); }
  std::vector<store::Report> list_by_user(const std::string&) override { return unexpected(), std::vector<store::Report>{}; }
  std::optional<store::Report> get(const std::string&) override { return unexpected(), std::nullopt; }
  store::TransitionOutcome transition(const std::string&, const std::string&, store::ReportStatus,
                                      store::ReportStatus, std::int64_t) override {
    return unexpected(), store::TransitionOutcome{};
  }
  void mark_event_published(const std::string&, std::int64_t) override { unexpected(); }
  std::vector<store::Report> list_event_pending() override { return {}; }
  bool ping() override {
    pings.fetch_add(1);
    return answers.load();
  }

  std::atomic<int> pings{0};
  std::atomic<bool> answers{true};

 private:
  static void unexpected() { ADD_FAILURE() << "the probe reached more than ping()"; }
};

class RefusingBus final : public bus::EventBus {
 public:
  core::Admission publish(std::vector<core::EventDraft>, boost::asio::any_io_executor,
                          history::History::AppendDone) override {
    return core::Admission::Stopped;
  }
  bool ready() const override { return true; }
};

// A hung stop() would hang the test binary too: this ends it with a message instead.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "ReportService::stop() did not return within %llds\n",
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

// Each test stops its store pool after the service and before the service is destroyed: the
// probes queued there point at the service (the server stops its store pool first).
struct ReportServiceFixture : ::testing::Test {
  PingOnlyStore store;
  RefusingBus bus;
  metrics::Registry registry;
};

// The race this guards: stop() posts the timer's cancel; when the timer expires in the same
// reactor pass, its handler is queued behind the cancel, finds success and used to re-arm,
// so the background thread never ran out of work and join() never returned. A probe that
// always expires at once makes that pass likely in every round.
TEST_F(ReportServiceFixture, StopReturnsWhileTheProbeTimerKeepsExpiring) {
  for (int round = 0; round < 300; ++round) {
    core::BlockingPool pool{"store-test", 1, 64};
    ReportService service{store, pool, bus, registry, 0ms};
    service.start(1h);
    std::this_thread::sleep_for(std::chrono::microseconds(50 * (round % 5)));
    {
      Watchdog watchdog{20s};
      service.stop();
    }
    pool.stop();
  }
  EXPECT_GT(store.pings.load(), 0) << "the probe never ran, so the race was never on";
}

TEST_F(ReportServiceFixture, StopTwiceReturns) {
  core::BlockingPool pool{"store-test", 1, 64};
  ReportService service{store, pool, bus, registry, 1ms};
  service.start(1h);
  {
    Watchdog watchdog{20s};
    service.stop();
    service.stop();
  }
  pool.stop();
}

TEST_F(ReportServiceFixture, TheProbeNoticesAnOutageAndItsEndThenStopsWithTheService) {
  core::BlockingPool pool{"store-test", 1, 64};
  ReportService service{store, pool, bus, registry, 1ms};
  service.start(1h);
  const auto wait_for_ready = [&](bool expected) {
    for (auto deadline = std::chrono::steady_clock::now() + 20s;
         service.store_ready() != expected && std::chrono::steady_clock::now() < deadline;)
      std::this_thread::sleep_for(1ms);
    return service.store_ready() == expected;
  };
  store.answers = false;
  EXPECT_TRUE(wait_for_ready(false));
  store.answers = true;
  EXPECT_TRUE(wait_for_ready(true));

  service.stop();
  std::this_thread::sleep_for(20ms);  // lets a ping already handed to the store pool finish
  const int after_stop = store.pings.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(store.pings.load(), after_stop) << "the probe went on after stop()";
  pool.stop();
}

}  // namespace
}  // namespace ssehub::reports
