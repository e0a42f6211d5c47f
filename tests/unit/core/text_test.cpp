#include "core/text.hpp"

#include <gtest/gtest.h>

using ssehub::core::has_control_characters;
using ssehub::core::is_valid_utf8;
using ssehub::core::lowercase;

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

TEST(TextTest, LowercaseAndControlCharacters) {
  EXPECT_EQ(lowercase("Content-Type: ABC"), "content-type: abc");
  EXPECT_TRUE(has_control_characters(std::string("a\x01b")));
  EXPECT_TRUE(has_control_characters("a\x7F"));
  EXPECT_FALSE(has_control_characters("plain text \xC3\xA9"));
}
