#include "sse/stream_opener.hpp"

#include <gtest/gtest.h>

using ssehub::sse::parse_last_event_id;

TEST(LastEventIdTest, DecimalIdResumesAfterIt) {
  auto point = parse_last_event_id("42");
  ASSERT_TRUE(point);
  EXPECT_FALSE(point->earliest);
  EXPECT_EQ(point->after_id, 42u);
}

TEST(LastEventIdTest, EarliestAsksForEverythingRetained) {
  auto point = parse_last_event_id("earliest");
  ASSERT_TRUE(point);
  EXPECT_TRUE(point->earliest);
}

TEST(LastEventIdTest, MalformedValuesAreRejected) {
  EXPECT_FALSE(parse_last_event_id("abc"));
  EXPECT_FALSE(parse_last_event_id("-1"));
  EXPECT_FALSE(parse_last_event_id("12x"));
  EXPECT_FALSE(parse_last_event_id("99999999999999999999999"));
  EXPECT_FALSE(parse_last_event_id(" 5"));
}

TEST(LastEventIdTest, TheHeaderSentTwiceMeansTheNewestId) {
  // fetch() joins two spellings of the header set by a caller and a client library.
  auto point = parse_last_event_id("earliest, 7");
  ASSERT_TRUE(point);
  EXPECT_FALSE(point->earliest);
  EXPECT_EQ(point->after_id, 7u);
  EXPECT_EQ(parse_last_event_id("9,3")->after_id, 9u);
  EXPECT_TRUE(parse_last_event_id("earliest,earliest")->earliest);
  EXPECT_FALSE(parse_last_event_id("7,"));
  EXPECT_FALSE(parse_last_event_id("7, x"));
  EXPECT_FALSE(parse_last_event_id(",7"));
}
