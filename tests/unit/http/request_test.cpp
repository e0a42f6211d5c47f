#include "http/request.hpp"

#include <gtest/gtest.h>

using namespace ssehub::http;

TEST(RequestTargetTest, SplitsPathAndDecodesQuery) {
  auto target = parse_target("/v2/sse?username=al%20ice+b&lastEventId=5");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/v2/sse");
  EXPECT_EQ(target->param("username"), "al ice b");
  EXPECT_EQ(target->param("lastEventId"), "5");
  EXPECT_EQ(target->param("missing"), std::nullopt);
}

TEST(RequestTargetTest, FirstValueWinsAndEmptyValuesAreKept) {
  auto target = parse_target("/x?a=1&a=2&b=&c");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->param("a"), "1");
  EXPECT_EQ(target->param("b"), "");
  EXPECT_EQ(target->param("c"), "");
}

TEST(RequestTargetTest, MalformedEscapesAreRejected) {
  EXPECT_FALSE(parse_target("/x?a=%4"));
  EXPECT_FALSE(parse_target("/x?a=%zz"));
  EXPECT_FALSE(parse_target("/%"));
}

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x91\x8B"));
}

TEST(Utf8Test, RejectsInvalidSequences) {
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("a\x80"));             // stray continuation
}
