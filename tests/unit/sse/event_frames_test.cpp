#include "sse/event_frames.hpp"
#include "sse/replay_page.hpp"

#include <gtest/gtest.h>

#include <limits>

using namespace ssehub;

namespace {

history::StoredEventPtr stored(std::uint64_t id, std::string type, std::string data) {
  return std::make_shared<history::StoredEvent>(
      history::StoredEvent{.stream = "v2:a",
                           .id = id,
                           .type = std::move(type),
                           .data = std::move(data),
                           .accepted_at = core::SteadyClock::now()});
}

}  // namespace

TEST(EventFramesTest, ALiveEventKeepsItsAcceptTimeAndAReplayedOneDoesNot) {
  const auto event = stored(7, "", "line1\r\nline2");
  const auto live = sse::frame_live(*event);
  EXPECT_EQ(live->frame, "id: 7\ndata: line1\ndata: line2\n\n");
  EXPECT_EQ(live->stream, "v2:a");
  EXPECT_EQ(live->id, 7u);
  EXPECT_EQ(live->accepted_at, event->accepted_at);
  const auto replayed = sse::frame_replayed(*event);
  EXPECT_EQ(replayed->frame, live->frame);
  EXPECT_EQ(replayed->accepted_at, core::SteadyClock::time_point{});
}

TEST(EventFramesTest, AResetSaysWhyWhatWasAskedAndWhereTheStreamContinues) {
  const auto trimmed = sse::frame_reset(
      "v2:a",
      {.reason = history::ResetReason::HistoryTrimmed, .requested_id = 1, .continues_after = 3});
  EXPECT_EQ(
      trimmed->frame,
      "id: 3\nevent: reset\n"
      "data: {\"continuesAfter\":\"3\",\"lastEventId\":\"1\",\"reason\":\"history_trimmed\"}\n\n");
  EXPECT_EQ(trimmed->id, 3u);
  EXPECT_EQ(trimmed->stream, "v2:a");
  const auto unknown = sse::frame_reset(
      "v2:a",
      {.reason = history::ResetReason::UnknownId, .requested_id = 99, .continues_after = 0});
  EXPECT_EQ(
      unknown->frame,
      "id: 0\nevent: reset\n"
      "data: {\"continuesAfter\":\"0\",\"lastEventId\":\"99\",\"reason\":\"unknown_id\"}\n\n");
}

TEST(EventFramesTest, AReplayPageStartsWithItsResetThenTheEventsWithoutAcceptTimes) {
  history::Replay replay;
  replay.reset = history::Reset{
      .reason = history::ResetReason::HistoryTrimmed, .requested_id = 2, .continues_after = 4};
  replay.events = {stored(5, "", "five"), stored(6, "report", "six")};
  replay.last_id = 6;
  replay.more = true;
  const sse::ReplayPage page = sse::frame_replay("v2:a", replay);
  EXPECT_TRUE(page.reset);
  EXPECT_EQ(page.last_id, 6u);
  EXPECT_TRUE(page.more);
  ASSERT_EQ(page.events.size(), 3u);
  EXPECT_NE(page.events[0]->frame.find("event: reset"), std::string::npos);
  EXPECT_EQ(page.events[0]->id, 4u);
  EXPECT_EQ(page.events[1]->frame, "id: 5\ndata: five\n\n");
  EXPECT_EQ(page.events[2]->frame, "id: 6\nevent: report\ndata: six\n\n");
  for (const auto& event : page.events)
    EXPECT_EQ(event->accepted_at, core::SteadyClock::time_point{});

  const sse::ReplayPage plain =
      sse::frame_replay("v2:a", history::Replay{.events = {stored(1, "", "x")}, .last_id = 1});
  EXPECT_FALSE(plain.reset);
  ASSERT_EQ(plain.events.size(), 1u);
  EXPECT_EQ(plain.events[0]->id, 1u);
}

TEST(EventFramesTest, TheFrameSizeIsTheSizeOfTheFrame) {
  for (std::uint64_t id : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{9}, std::uint64_t{10},
                           std::uint64_t{99999}, std::numeric_limits<std::uint64_t>::max()}) {
    for (const auto& [type, data] : std::vector<std::pair<std::string, std::string>>{
             {"", "x"}, {"report", "a\nb\r\nc\rd"}, {"", ""}, {"t", "\n\n"}}) {
      const auto event = stored(id, type, data);
      EXPECT_EQ(sse::frame_size(*event), sse::frame_live(*event)->frame.size())
          << id << " " << data;
    }
  }
}
