#include "sse/encoder.hpp"

#include <gtest/gtest.h>

using ssehub::sse::encode_comment;
using ssehub::sse::encode_event;
using ssehub::sse::encode_retry;

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

TEST(EncoderTest, CommentAndRetry) {
  EXPECT_EQ(encode_comment("keep-alive-text"), ": keep-alive-text\n\n");
  EXPECT_EQ(encode_retry(3000), "retry: 3000\n\n");
}
