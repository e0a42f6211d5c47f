#include "core/in_progress.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

namespace core = ssehub::core;
using namespace std::chrono_literals;

TEST(InProgressTest, HoldsCountWhileTheyLive) {
  core::InProgress in_progress;
  {
    core::InProgress::Hold first(in_progress);
    std::optional<core::InProgress::Hold> second(std::in_place, in_progress);
    EXPECT_EQ(in_progress.count(), 2u);
    core::InProgress::Hold moved(std::move(*second));
    second.reset();  // a moved-from hold counts nothing
    EXPECT_EQ(in_progress.count(), 2u);
  }
  EXPECT_EQ(in_progress.count(), 0u);
}

TEST(InProgressTest, WaitEndsAtOnceWhenNothingIsInProgress) {
  core::InProgress in_progress;
  EXPECT_TRUE(in_progress.wait_until_empty(0ms));
}

TEST(InProgressTest, WaitEndsWhenTheLastOneFinishes) {
  core::InProgress in_progress;
  in_progress.add();
  in_progress.add();
  auto waited = std::async(std::launch::async, [&] { return in_progress.wait_until_empty(60s); });
  in_progress.remove();
  EXPECT_EQ(waited.wait_for(50ms), std::future_status::timeout) << "ended with one still in progress";
  in_progress.remove();
  ASSERT_EQ(waited.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(waited.get());
}

TEST(InProgressTest, WorkThatKeepsArrivingDoesNotHoldTheWaitUp) {
  // What was in progress when the wait began has finished once the count touches zero,
  // even if something new starts straight after.
  core::InProgress in_progress;
  in_progress.add();
  auto waited = std::async(std::launch::async, [&] { return in_progress.wait_until_empty(60s); });
  int rounds = 0;
  while (waited.wait_for(1ms) != std::future_status::ready) {
    ASSERT_LT(++rounds, 10000) << "the wait never saw the count touch zero";
    in_progress.remove();
    in_progress.add();
  }
  EXPECT_TRUE(waited.get());
  EXPECT_EQ(in_progress.count(), 1u);
}

TEST(InProgressTest, WaitGivesUpAtItsTimeout) {
  core::InProgress in_progress;
  core::InProgress::Hold stuck(in_progress);
  EXPECT_FALSE(in_progress.wait_until_empty(20ms));
}
