#include "core/blocking_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using ssehub::core::BlockingPool;

TEST(BlockingPoolTest, JobsOfOneKeyRunInSubmissionOrderWhileManyThreadsSubmit) {
  constexpr int kSubmitters = 4, kJobsEach = 500;
  BlockingPool pool("test", 3, 100000);
  // Each submitter uses keys of its own, so its jobs' order is defined; the lanes are shared.
  std::mutex mutex;
  std::vector<std::vector<int>> seen(kSubmitters * 2);
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&, s] {
      for (int i = 0; i < kJobsEach; ++i) {
        const std::size_t key = static_cast<std::size_t>(s * 2 + i % 2);
        ASSERT_TRUE(pool.submit(key, [&, key, i] {
          std::lock_guard lock(mutex);
          seen[key].push_back(i);
        }));
      }
    });
  }
  for (auto& thread : submitters) thread.join();
  pool.stop();  // runs what is queued first
  for (std::size_t key = 0; key < seen.size(); ++key) {
    ASSERT_EQ(seen[key].size(), static_cast<std::size_t>(kJobsEach / 2)) << key;
    for (std::size_t j = 1; j < seen[key].size(); ++j) EXPECT_LT(seen[key][j - 1], seen[key][j]);
  }
}

TEST(BlockingPoolTest, FullLaneRefusesAndStoppedPoolRefuses) {
  BlockingPool pool("test", 1, 2);
  std::atomic<bool> started{false}, release{false};
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.submit(0, [&] {
    started = true;
    while (!release.load()) std::this_thread::yield();
    ++ran;
  }));
  while (!started.load()) std::this_thread::yield();
  // The lane's thread is busy: two jobs may wait, the others are refused.
  int accepted = 0;
  for (int i = 0; i < 4; ++i) accepted += pool.submit(0, [&] { ++ran; });
  EXPECT_EQ(accepted, 2);
  release = true;
  pool.stop();
  EXPECT_EQ(ran.load(), 1 + accepted);
  EXPECT_FALSE(pool.submit(0, [] {}));
}

TEST(BlockingPoolTest, StopWhileOtherThreadsSubmitLosesNoAcceptedJob) {
  BlockingPool pool("test", 2, 10000);
  std::atomic<int> accepted{0}, ran{0};
  std::atomic<bool> go{true};
  std::vector<std::thread> submitters;
  for (int s = 0; s < 3; ++s) {
    submitters.emplace_back([&, s] {
      for (std::size_t i = 0; go.load(); ++i)
        if (pool.submit(i + static_cast<std::size_t>(s), [&] { ++ran; })) ++accepted;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.stop();
  go = false;
  for (auto& thread : submitters) thread.join();
  EXPECT_EQ(ran.load(), accepted.load());
}
