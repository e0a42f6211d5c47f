// The test oracle itself, against the examples of the WHATWG HTML spec (9.2.6) and the
// decoding rules of the Encoding spec, so the round-trip tests rest on something checked.
#include "support/whatwg_sse_parser.hpp"

#include <gtest/gtest.h>

using ssehub::test_support::parse_event_stream;
using ssehub::test_support::utf8_decode;
using ssehub::test_support::WhatwgSseParser;

TEST(WhatwgSseParserTest, SpecExampleWithIdsAndAnUnterminatedLastEvent) {
  WhatwgSseParser parser;
  parser.feed("data: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event");
  parser.finish();
  ASSERT_EQ(parser.events().size(), 2u);
  EXPECT_EQ(parser.events()[0].data, "first event");
  EXPECT_EQ(parser.events()[0].last_event_id, "1");
  EXPECT_EQ(parser.events()[1].data, "second event");
  EXPECT_EQ(parser.events()[1].last_event_id, "");  // a bare `id` resets it
}

TEST(WhatwgSseParserTest, SpecExampleOfEmptyDataAndADiscardedLastBlock) {
  // "The first block fires events with the data set to the empty string, as would the last
  // block if it was followed by a blank line. The middle block fires an event with the data
  // set to a single newline character. The last block is discarded..."
  const auto events = parse_event_stream("data\n\ndata\ndata\n\ndata:");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "");
  EXPECT_EQ(events[1].data, "\n");
}

TEST(WhatwgSseParserTest, SpecExampleOfOneSpaceAfterTheColon) {
  // "The following stream fires two identical events" (one space after the colon is dropped).
  const auto events = parse_event_stream("data:test\n\ndata: test\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "test");
  EXPECT_EQ(events[1].data, "test");
}

TEST(WhatwgSseParserTest, CrLfAndCrAlsoEndLinesAndALeadingBomIsDropped) {
  const auto events = parse_event_stream("\xEF\xBB\xBF" "data: a\r\ndata: b\rdata: c\n\r\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb\nc");
}

TEST(WhatwgSseParserTest, EventWithoutDataIsNotDispatchedButResetsTheType) {
  const auto events = parse_event_stream("event: x\n\ndata: y\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "message");
}

TEST(WhatwgSseParserTest, IdWithNulIsIgnoredAndRetryNeedsDigits) {
  WhatwgSseParser parser;
  using namespace std::string_literals;
  parser.feed("id: 7\nid: 8\0x\nretry: 12a\nretry: 250\ndata\n\n"s);
  parser.finish();
  ASSERT_EQ(parser.events().size(), 1u);
  EXPECT_EQ(parser.events()[0].last_event_id, "7");
  EXPECT_EQ(parser.retry(), 250u);
}

TEST(WhatwgSseParserTest, Utf8DecodeReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_decode("ok \xC3\xA9"), "ok \xC3\xA9");
  // Examples of the Encoding spec / Unicode 3.9: truncated sequences are one U+FFFD each,
  // bytes that can never start one are one each, and surrogates are refused.
  EXPECT_EQ(utf8_decode("\xE2\x82"), "\xEF\xBF\xBD");
  EXPECT_EQ(utf8_decode("\xF0\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_decode("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_decode("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_decode("\xF4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_decode("a\xE2\x82" "b"), "a\xEF\xBF\xBD" "b");
}
