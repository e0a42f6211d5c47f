#include "bus/bus_lag.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ssehub::bus {
namespace {

using std::chrono::milliseconds;
const BusLag::Clock::time_point t0{};

TEST(BusLag, ANodeThatAppliedEverythingHasNoLag) {
  BusLag lag;
  EXPECT_EQ(lag.update(t0, std::vector<std::int64_t>{0, 0}, std::vector<std::int64_t>{-1, -1}), milliseconds(0));
  EXPECT_EQ(lag.update(t0 + milliseconds(500), std::vector<std::int64_t>{7, 3}, std::vector<std::int64_t>{7, 3}),
            milliseconds(0));
}

TEST(BusLag, LagIsTheAgeOfTheOldestEndNotAppliedYet) {
  BusLag lag;
  const std::vector<std::int64_t> ends{5, 0};
  EXPECT_EQ(lag.update(t0, ends, std::vector<std::int64_t>{0, 0}), milliseconds(0));
  // The node applies nothing (its consumer is stuck): the lag grows with the time.
  EXPECT_EQ(lag.update(t0 + milliseconds(700), ends, std::vector<std::int64_t>{2, 0}), milliseconds(700));
  // More arrives meanwhile; what counts is still the oldest end not reached.
  EXPECT_EQ(lag.update(t0 + milliseconds(1500), std::vector<std::int64_t>{9, 0}, std::vector<std::int64_t>{4, 0}),
            milliseconds(1500));
  // The first end is reached: the lag is now the age of the next one.
  EXPECT_EQ(lag.update(t0 + milliseconds(1600), std::vector<std::int64_t>{9, 0}, std::vector<std::int64_t>{5, 0}),
            milliseconds(100));
  EXPECT_EQ(lag.update(t0 + milliseconds(1700), std::vector<std::int64_t>{9, 0}, std::vector<std::int64_t>{9, 0}),
            milliseconds(0));
}

TEST(BusLag, UnderSteadyLoadALiveNodeLagsLessThanOneUpdate) {
  BusLag lag;
  // Each update the cluster has 100 more records and the node has applied what it saw at the
  // last one: it is behind by one period at most, however long this runs.
  for (int tick = 1; tick <= 1000; ++tick) {
    const auto now = t0 + milliseconds(250 * tick);
    const auto result = lag.update(now, std::vector<std::int64_t>{100 * tick}, std::vector<std::int64_t>{100 * (tick - 1)});
    ASSERT_LE(result, milliseconds(250)) << "tick " << tick;
  }
}

TEST(BusLag, OneStalledPartitionAmongLiveOnesShows) {
  BusLag lag;
  for (int tick = 0; tick <= 20; ++tick) {
    const auto now = t0 + milliseconds(250 * tick);
    const std::vector<std::int64_t> ends{10 * tick + 10, 10 * tick + 10, 10};
    const std::vector<std::int64_t> applied{10 * tick + 10, 10 * tick + 10, 0};
    EXPECT_EQ(lag.update(now, ends, applied), milliseconds(250 * tick)) << "tick " << tick;
  }
}

TEST(BusLag, AStuckNodeKeepsGrowingWithBoundedMemory) {
  BusLag lag;
  milliseconds last{0};
  // Far more new ends than it keeps: the age of the oldest still counts from the first.
  for (int tick = 0; tick < 5000; ++tick)
    last = lag.update(t0 + milliseconds(10 * tick), std::vector<std::int64_t>{tick + 1}, std::vector<std::int64_t>{0});
  EXPECT_EQ(last, milliseconds(10 * 4999));
}

}  // namespace
}  // namespace ssehub::bus
