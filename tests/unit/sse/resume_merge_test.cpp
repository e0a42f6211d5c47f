#include "sse/resume_merge.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace ssehub::sse {
namespace {

core::EventPtr event(std::uint64_t id, std::size_t size = 10) {
  auto e = std::make_shared<core::Event>();
  e->id = id;
  e->frame = std::string(size, 'x');
  return e;
}

ReplayPage page(std::vector<std::uint64_t> ids, bool more, std::uint64_t last_id = 0) {
  ReplayPage replay;
  for (auto id : ids) replay.events.push_back(event(id));
  replay.last_id = ids.empty() ? last_id : ids.back();
  replay.more = more;
  return replay;
}

std::vector<std::uint64_t> ids_of(const std::vector<core::EventPtr>& events) {
  std::vector<std::uint64_t> ids;
  for (const auto& e : events) ids.push_back(e->id);
  return ids;
}

TEST(ResumeMergeTest, PagesThenHeldLiveEventsWithoutDuplicates) {
  ResumeMerge merge(2, 1000);
  EXPECT_EQ(merge.on_live(event(5)), ResumeMerge::Live::Held);
  EXPECT_EQ(merge.on_live(event(6)), ResumeMerge::Live::Held);
  auto first = page({3, 4}, true);
  auto step = merge.on_page(first);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{3, 4}));
  ASSERT_TRUE(step.next_page);
  EXPECT_EQ(step.next_page->after_id, 4u);
  EXPECT_FALSE(merge.done());
  // The last page read 5 too, which also arrived live: sent once.
  auto last = page({5}, false);
  step = merge.on_page(last);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{5, 6}));
  EXPECT_FALSE(step.next_page);
  EXPECT_TRUE(merge.done());
  EXPECT_EQ(merge.last_id(), 6u);
  EXPECT_EQ(merge.held_bytes(), 0u);
}

TEST(ResumeMergeTest, LiveEventsPastTheLimitAreDroppedAndReadAgainFromHistory) {
  ResumeMerge merge(0, 25);  // room for two 10-byte events
  EXPECT_EQ(merge.on_live(event(3)), ResumeMerge::Live::Held);
  EXPECT_EQ(merge.on_live(event(4)), ResumeMerge::Live::Held);
  EXPECT_EQ(merge.on_live(event(5)), ResumeMerge::Live::Dropped);
  EXPECT_EQ(merge.held_bytes(), 0u);
  EXPECT_EQ(merge.on_live(event(6)), ResumeMerge::Live::Held);
  // The page was read before 3 was stored: it ends the history as it was, but events were
  // dropped since, so one more page is needed.
  auto first = page({1, 2}, false);
  auto step = merge.on_page(first);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{1, 2}));
  ASSERT_TRUE(step.next_page);
  EXPECT_EQ(step.next_page->after_id, 2u);
  auto second = page({3, 4, 5, 6}, false);
  step = merge.on_page(second);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{3, 4, 5, 6}));
  EXPECT_TRUE(merge.done());
}

TEST(ResumeMergeTest, AResetBelowTheClientsIdKeepsLiveEventsThatCameBeforeIt) {
  // The client resumes from 100, an id this history never issued; history continues after 7.
  // Event 8 arrives live before the page: it must not be taken for a duplicate of 100.
  ResumeMerge merge(100, 1000);
  EXPECT_EQ(merge.on_live(event(8)), ResumeMerge::Live::Held);
  ReplayPage reset;
  reset.reset = true;
  reset.events.push_back(event(7));  // the reset event carries the id the stream continues after
  reset.last_id = 7;
  auto step = merge.on_page(reset);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{7, 8}));
  EXPECT_TRUE(merge.done());
  EXPECT_EQ(merge.last_id(), 8u);
}

TEST(ResumeMergeTest, AResetMidReplayMovesOnAndLaterEventsStillFollowOnce) {
  ResumeMerge merge(0, 1000);
  auto first = page({1, 2}, true);
  merge.on_page(first);
  // Retention dropped 3..9 while the client read page one.
  ReplayPage second;
  second.reset = true;
  second.events.push_back(event(9));
  second.events.push_back(event(10));
  second.last_id = 10;
  auto step = merge.on_page(second);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{9, 10}));
  EXPECT_TRUE(merge.done());
}

TEST(ResumeMergeTest, AWaitingClusterNodeGoesLiveAndSendsWhatArrived) {
  // A node that has not applied the client's id yet: the page is empty and says where to go on.
  ResumeMerge merge(50, 1000);
  merge.on_live(event(51));
  auto empty = page({}, false, 50);
  auto step = merge.on_page(empty);
  EXPECT_EQ(ids_of(step.send), (std::vector<std::uint64_t>{51}));
  EXPECT_TRUE(merge.done());
}

TEST(ResumeMergeTest, AfterAPageLiveDuplicatesAreToldApart) {
  ResumeMerge merge(0, 1000);
  auto first = page({1, 2, 3}, true);
  merge.on_page(first);
  EXPECT_EQ(merge.on_live(event(2)), ResumeMerge::Live::Duplicate);
  EXPECT_EQ(merge.on_live(event(4)), ResumeMerge::Live::Held);
  EXPECT_EQ(merge.on_live(event(4)), ResumeMerge::Live::Duplicate);
}

}  // namespace
}  // namespace ssehub::sse
