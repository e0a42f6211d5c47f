#include "http/body_budget.hpp"
#include "http/http_metrics.hpp"
#include "http/io_pool.hpp"

#include "core/cpu_affinity.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <array>
#include <future>
#include <memory>
#include <stdexcept>

namespace ssehub::http {
namespace {

using boost::asio::local::stream_protocol;

// What an HTTP connection waiting for the rest of a request body holds: its socket, and a
// share of the server's body budget, given back when the connection is destroyed.
struct WaitingConnection {
  WaitingConnection(boost::asio::io_context& context, BodyBudget& budget)
      : socket(context), share(budget.share()) {}
  stream_protocol::socket socket;
  std::shared_ptr<BodyBudget::Share> share;
  std::array<char, 16> buffer{};
};

void wait_until_queued_handlers_ran(IoPool& pool) {
  for (unsigned i = 0; i < pool.size(); ++i) {
    std::promise<void> ran;
    boost::asio::post(pool.context(i), [&ran] { ran.set_value(); });
    ran.get_future().wait();
  }
}

TEST(IoPoolTest, StopDestroysConnectionsStillWaitingOnAReadBeforeItReturns) {
  metrics::Registry metrics;
  HttpMetrics http(metrics);
  IoPool pool(2);
  // Declared after the pool, as in the server: the budget is gone before the pool is, so a
  // connection the pool destroyed only in its destructor would give back its share to a
  // budget that no longer exists (stack-use-after-scope under ASan).
  BodyBudget budget(1000, http.request_body_bytes_buffered);
  stream_protocol::socket client(pool.context(1));
  std::weak_ptr<WaitingConnection> watch;
  {
    auto connection = std::make_shared<WaitingConnection>(pool.context(1), budget);
    boost::asio::local::connect_pair(connection->socket, client);
    ASSERT_TRUE(connection->share->grow_to(100));
    // The client never sends: the read waits, and its handler keeps the connection alive.
    connection->socket.async_read_some(boost::asio::buffer(connection->buffer),
                                       [connection](boost::system::error_code, std::size_t) {});
    watch = connection;
  }
  pool.start();
  wait_until_queued_handlers_ran(pool);
  ASSERT_FALSE(watch.expired());
  ASSERT_EQ(budget.held(), 100u);

  pool.stop();
  EXPECT_TRUE(watch.expired()) << "a handler waiting on I/O outlived IoPool::stop";
  EXPECT_EQ(budget.held(), 0u);
  EXPECT_EQ(metrics.value("ssehub_request_body_bytes_buffered"), 0);
}

TEST(IoPoolTest, StopDestroysHandlersPostedButNeverRun) {
  IoPool pool(1);
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  boost::asio::post(pool.context(0), [held = std::move(held)] { FAIL() << "ran after stop"; });
  pool.stop();  // never started: the handler can only be destroyed
  EXPECT_TRUE(watch.expired());
  pool.stop();  // a second stop (the destructor's too) finds nothing left
}

TEST(IoPoolTest, EachThreadRunsOnlyOnTheCpuGivenForIt) {
  const auto usable = core::usable_cpus();
  const unsigned threads = usable.size() >= 2 ? 2 : 1;
  // Reversed, so a pool that pinned thread i to the i-th usable CPU regardless would fail.
  std::vector<unsigned> cpus(usable.begin(), usable.begin() + threads);
  std::reverse(cpus.begin(), cpus.end());
  IoPool pool(threads, cpus);
  EXPECT_EQ(pool.cpus(), cpus);
  pool.start();
  for (unsigned i = 0; i < threads; ++i) {
    std::promise<cpu_set_t> seen;
    boost::asio::post(pool.context(i), [&seen] {
      cpu_set_t mask;
      CPU_ZERO(&mask);
      sched_getaffinity(0, sizeof mask, &mask);
      seen.set_value(mask);
    });
    cpu_set_t mask = seen.get_future().get();
    EXPECT_EQ(CPU_COUNT(&mask), 1) << "thread " << i;
    EXPECT_TRUE(CPU_ISSET(cpus[i], &mask)) << "thread " << i << " is not on CPU " << cpus[i];
  }
  pool.stop();
}

TEST(IoPoolTest, WithoutCpusTheThreadsKeepTheProcessMask) {
  IoPool pool(1);
  EXPECT_TRUE(pool.cpus().empty());
  pool.start();
  std::promise<std::vector<unsigned>> seen;
  boost::asio::post(pool.context(0), [&seen] { seen.set_value(core::usable_cpus()); });
  EXPECT_EQ(seen.get_future().get(), core::usable_cpus());
  pool.stop();
}

TEST(IoPoolTest, ARefusedPinLeavesTheThreadRunningUnpinnedAndSaysSo) {
  // No machine here has CPU 1023 online: the kernel refuses, as a sandbox would.
  IoPool pool(1, {CPU_SETSIZE - 1});
  pool.start();
  EXPECT_TRUE(pool.cpus().empty()) << "cpus() claims a pin the kernel refused";
  std::promise<std::vector<unsigned>> seen;
  boost::asio::post(pool.context(0), [&seen] { seen.set_value(core::usable_cpus()); });
  EXPECT_EQ(seen.get_future().get(), core::usable_cpus());
  pool.stop();
}

TEST(IoPoolTest, CpusMustBeOnePerThread) {
  EXPECT_THROW(IoPool(2, {0}), std::invalid_argument);
}

}  // namespace
}  // namespace ssehub::http
