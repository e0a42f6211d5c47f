// What a browser makes of encode_event's frames, read by the WHATWG parser of tests/support:
// the data comes back as published, with CR and CRLF line breaks turned into LF.
#include "sse/encoder.hpp"
#include "support/whatwg_sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using ssehub::sse::encode_comment_line;
using ssehub::sse::encode_event;
using ssehub::sse::encode_retry;
using ssehub::test_support::parse_event_stream;
using ssehub::test_support::WhatwgSseParser;

namespace {

std::string lf_only(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out += text[i];
      continue;
    }
    out += '\n';
    if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
  }
  return out;
}

const std::vector<std::string> kTrickyData = {
    "",
    "plain",
    "\n",
    "\r",
    "\r\n",
    "\n\r",         // LF then CR: two line breaks, not one
    "a\r\r\nb",     // CR, then CRLF
    "a\n\n\nb",
    "trailing CR\r",
    "trailing CRLF\r\n",
    "\r\nleading CRLF",
    " leading space",
    "  two leading spaces",
    "data: looks like a field",
    ": looks like a comment",
    "id: 99\nevent: spoofed\n\ndata: injected",  // stays data: every line gets its own prefix
    "retry: 1",
    std::string("nul\0inside", 10),
    "tab\tand\x01control",
    "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8E\x89",  // café € 🎉
    "\xEF\xBB\xBF" "BOM inside the data is kept",
    std::string(70000, 'x') + "\r\n" + std::string(10, 'y'),
};

}  // namespace

TEST(EncoderRoundTripTest, DataComesBackWithLineBreaksAsLf) {
  for (const std::string& data : kTrickyData) {
    const auto events = parse_event_stream(encode_event("", 5, data));
    ASSERT_EQ(events.size(), 1u) << testing::PrintToString(data);
    EXPECT_EQ(events[0].data, lf_only(data)) << testing::PrintToString(data);
    EXPECT_EQ(events[0].type, "message");
    EXPECT_EQ(events[0].last_event_id, "5");
  }
}

TEST(EncoderRoundTripTest, EveryEventOfAStreamSurvivesByteByByteDelivery) {
  std::string stream = encode_retry(3000) + encode_comment_line("keep-alive");
  for (std::size_t i = 0; i < kTrickyData.size(); ++i)
    stream += encode_event(i % 2 ? "report_status_update" : "", i + 1, kTrickyData[i]);
  WhatwgSseParser parser;
  for (char c : stream) parser.feed(std::string_view(&c, 1));  // a CRLF split across reads too
  parser.finish();
  ASSERT_EQ(parser.events().size(), kTrickyData.size());
  for (std::size_t i = 0; i < kTrickyData.size(); ++i) {
    EXPECT_EQ(parser.events()[i].data, lf_only(kTrickyData[i])) << i;
    EXPECT_EQ(parser.events()[i].type, i % 2 ? "report_status_update" : "message");
    EXPECT_EQ(parser.events()[i].last_event_id, std::to_string(i + 1));
  }
  EXPECT_EQ(parser.retry(), 3000u);
  ASSERT_EQ(parser.comments().size(), 1u);
  EXPECT_EQ(parser.comments()[0], " keep-alive");
}

TEST(EncoderRoundTripTest, TypeWithColonsAndSpacesSurvives) {
  for (std::string type : {"a:b", " spaced", "report_status_update", "t\xC3\xBFpe"}) {
    const auto events = parse_event_stream(encode_event(type, std::nullopt, "x"));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, type);
    EXPECT_EQ(events[0].last_event_id, "");
  }
}

TEST(EncoderRoundTripTest, LargestIdRoundTrips) {
  const auto events = parse_event_stream(encode_event("", UINT64_MAX, "x"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].last_event_id, "18446744073709551615");
}

TEST(EncoderRoundTripTest, BytesThatAreNotUtf8ReachTheBrowserAsReplacementCharacters) {
  // A browser decodes the stream as UTF-8; ssehub's publish APIs refuse such bytes, but the
  // encoder itself does not judge them.
  const auto events = parse_event_stream(encode_event("", 1, "a\xFF" "b\xC3\r\n\xE2\x82"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\n\xEF\xBF\xBD");
}
