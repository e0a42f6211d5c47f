#include "sse/encoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using ssehub::sse::encode_comment;
using ssehub::sse::encode_comment_line;
using ssehub::sse::encode_event;
using ssehub::sse::encode_retry;
using ssehub::sse::encoded_event_size;

TEST(EncoderTest, SingleLineMessageHasIdAndData) {
  EXPECT_EQ(encode_event("", 7, "hello"), "id: 7\ndata: hello\n\n");
}

TEST(EncoderTest, NamedEventCarriesEventLine) {
  EXPECT_EQ(encode_event("report_status_update", 3, "{}"),
            "id: 3\nevent: report_status_update\ndata: {}\n\n");
}

TEST(EncoderTest, NoIdLineWithoutAnId) {
  EXPECT_EQ(encode_event("", std::nullopt, "hi!"), "data: hi!\n\n");
}

TEST(EncoderTest, IdZeroIsWrittenBecauseItMovesTheClientBackToTheStart) {
  EXPECT_EQ(encode_event("reset", 0, "{}"), "id: 0\nevent: reset\ndata: {}\n\n");
}

TEST(EncoderTest, LfCrAndCrLfEachStartANewDataLine) {
  EXPECT_EQ(encode_event("", 1, "a\nb"), "id: 1\ndata: a\ndata: b\n\n");
  EXPECT_EQ(encode_event("", 1, "a\rb"), "id: 1\ndata: a\ndata: b\n\n");
  EXPECT_EQ(encode_event("", 1, "a\r\nb"), "id: 1\ndata: a\ndata: b\n\n");
  EXPECT_EQ(encode_event("", 1, "a\n\rb"), "id: 1\ndata: a\ndata: \ndata: b\n\n");
}

TEST(EncoderTest, TrailingAndBlankLinesArePreserved) {
  EXPECT_EQ(encode_event("", 1, "a\n"), "id: 1\ndata: a\ndata: \n\n");
  EXPECT_EQ(encode_event("", 1, "\n\n"), "id: 1\ndata: \ndata: \ndata: \n\n");
}

TEST(EncoderTest, EmptyBodyIsOneEmptyDataLine) { EXPECT_EQ(encode_event("", 2, ""), "id: 2\ndata: \n\n"); }

TEST(EncoderTest, LeadingSpaceSurvivesBecauseOnlyOneSpaceIsStripped) {
  EXPECT_EQ(encode_event("", 1, " x"), "id: 1\ndata:  x\n\n");
}

TEST(EncoderTest, UnicodeIsPassedThroughByteForByte) {
  EXPECT_EQ(encode_event("", 1, "h\xC3\xA9llo \xF0\x9F\x91\x8B"), "id: 1\ndata: h\xC3\xA9llo \xF0\x9F\x91\x8B\n\n");
}

TEST(EncoderTest, CommentLinesAndRetryHintsDoNotEndABlock) {
  // A block of its own would reach several client libraries as an empty message.
  EXPECT_EQ(encode_comment_line("keep-alive-text"), ": keep-alive-text\n");
  EXPECT_EQ(encode_retry(3000), "retry: 3000\n");
  EXPECT_EQ(encode_comment("keep-alive-text"), ": keep-alive-text\n\n");
}

TEST(EncoderTest, EncodedSizeCountsTheLongestIdAndEveryDataPrefix) {
  const std::string longest_id = "18446744073709551615";
  for (const std::string& data : std::vector<std::string>{"x", "", "a\nb", "a\r\nb\rc\n", "\n\n\n", std::string(1000, 'y')}) {
    for (const std::string type : {"", "reset"}) {
      EXPECT_EQ(encoded_event_size(type, data),
                encode_event(type, std::stoull(longest_id), data).size())
          << testing::PrintToString(data) << " " << type;
      EXPECT_GE(encoded_event_size(type, data), encode_event(type, 1, data).size());
    }
  }
  // A one-line message costs 33 bytes more than its text: what README's limit says.
  EXPECT_EQ(encoded_event_size("", std::string(61407, 'z')), 61440u);
}
