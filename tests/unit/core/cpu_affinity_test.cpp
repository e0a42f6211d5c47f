#include "core/cpu_affinity.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>
#include <vector>

namespace ssehub::core {
namespace {

using Cpus = std::vector<unsigned>;

TEST(CpuAffinityTest, EachThreadGetsTheNextUsableCpuInOrder) {
  EXPECT_EQ(one_cpu_each(2, {0, 1, 2, 3}), (Cpus{0, 1}));
  // A cpuset need not start at 0 nor be contiguous (taskset -c 2,5).
  EXPECT_EQ(one_cpu_each(2, {2, 5}), (Cpus{2, 5}));
  EXPECT_EQ(one_cpu_each(1, {7}), (Cpus{7}));
}

TEST(CpuAffinityTest, NoThreadIsPinnedWhenThreadsOutnumberTheCpus) {
  // Two pinned threads sharing a CPU could never move apart: all of them stay free instead.
  EXPECT_TRUE(one_cpu_each(3, {0, 1}).empty());
  EXPECT_TRUE(one_cpu_each(1, {}).empty());
  EXPECT_TRUE(one_cpu_each(0, {0, 1}).empty());
}

TEST(CpuAffinityTest, UsableCpusAreTheProcessMaskInAscendingOrder) {
  cpu_set_t mask;
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  const Cpus cpus = usable_cpus();
  ASSERT_EQ(cpus.size(), static_cast<std::size_t>(CPU_COUNT(&mask)));
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    EXPECT_TRUE(CPU_ISSET(cpus[i], &mask)) << cpus[i];
    if (i > 0) {
      EXPECT_LT(cpus[i - 1], cpus[i]);
    }
  }
}

TEST(CpuAffinityTest, APinnedThreadRunsOnItsCpuOnlyAndOthersKeepTheirMask) {
  const Cpus cpus = usable_cpus();
  ASSERT_FALSE(cpus.empty());
  const unsigned target = cpus.back();
  std::error_code pinned = std::make_error_code(std::errc::interrupted);
  int cpus_in_mask = -1;
  bool on_target = false;
  std::thread([&] {
    pinned = pin_thread(pthread_self(), target);
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
      cpus_in_mask = CPU_COUNT(&mask);
      on_target = CPU_ISSET(target, &mask);
    }
  }).join();
  EXPECT_FALSE(pinned) << pinned.message();
  EXPECT_EQ(cpus_in_mask, 1);
  EXPECT_TRUE(on_target);
  EXPECT_EQ(usable_cpus(), cpus);  // the calling thread's mask did not change
}

TEST(CpuAffinityTest, ACpuBeyondTheMaskSizeIsRefused) {
  std::error_code pinned;
  std::thread([&] { pinned = pin_thread(pthread_self(), CPU_SETSIZE); }).join();
  EXPECT_EQ(pinned, std::errc::invalid_argument);
}

}  // namespace
}  // namespace ssehub::core
