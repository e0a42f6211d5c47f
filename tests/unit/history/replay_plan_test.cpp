#include "history/replay_plan.hpp"

#include <gtest/gtest.h>

using namespace ssehub;
using history::plan_replay;
using history::ResetReason;

namespace {

constexpr history::StreamExtent kExtent{.last_id = 20, .trimmed_through = 10};

core::ResumePoint after(std::uint64_t id) { return {.earliest = false, .after_id = id}; }

void expect_reset(const history::ReplayPlan& plan, ResetReason reason, std::uint64_t requested,
                  std::uint64_t continues_after) {
  ASSERT_TRUE(plan.reset);
  EXPECT_EQ(plan.reset->reason, reason);
  EXPECT_EQ(plan.reset->requested_id, requested);
  EXPECT_EQ(plan.reset->continues_after, continues_after);
  EXPECT_EQ(plan.read_after, continues_after) << "the replay reads after where the stream goes on";
  EXPECT_FALSE(plan.live_only);
}

}  // namespace

TEST(ReplayPlanTest, AResumeWithinWhatIsKeptReadsAfterTheClientsId) {
  for (std::uint64_t id : {10u, 15u, 20u}) {
    const auto plan = plan_replay(kExtent, after(id), false);
    EXPECT_FALSE(plan.reset) << id;
    EXPECT_EQ(plan.read_after, id);
    EXPECT_FALSE(plan.live_only);
  }
}

TEST(ReplayPlanTest, EarliestReadsEverythingKeptWithoutAReset) {
  const auto plan = plan_replay(kExtent, {.earliest = true}, true);
  EXPECT_FALSE(plan.reset);
  EXPECT_EQ(plan.read_after, 0u);
  EXPECT_FALSE(plan.live_only);
  EXPECT_FALSE(history::past_end(kExtent, {.earliest = true, .after_id = 99}));
}

TEST(ReplayPlanTest, AResumeFromBeforeWhatIsKeptResetsToTheTrimPoint) {
  expect_reset(plan_replay(kExtent, after(3), false), ResetReason::HistoryTrimmed, 3, 10);
}

TEST(ReplayPlanTest, AnIdNeverIssuedResetsToTheStreamsLastId) {
  EXPECT_TRUE(history::past_end(kExtent, after(21)));
  expect_reset(plan_replay(kExtent, after(99), false), ResetReason::UnknownId, 99, 20);
}

TEST(ReplayPlanTest, AnIdThatMayStillArriveWaitsForTheLiveStream) {
  const auto plan = plan_replay(kExtent, after(99), true);
  EXPECT_FALSE(plan.reset);
  EXPECT_TRUE(plan.live_only);
  EXPECT_EQ(plan.read_after, 99u);
  // Only an id past the end waits; one within the stream is served from history.
  EXPECT_FALSE(plan_replay(kExtent, after(15), true).live_only);
}
