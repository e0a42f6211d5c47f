#include "core/text.hpp"

#include <gtest/gtest.h>

#include <string>

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

// A fault or a sequence must be found wherever it falls in long text, the short tail
// included: a check that skips ASCII several bytes at a time must pass these too.
TEST(Utf8Test, FindsAFaultAtAnyOffsetOfLongText) {
  for (std::size_t length = 1; length <= 40; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      std::string text(length, 'a');
      text[at] = '\x80';  // stray continuation
      EXPECT_FALSE(is_valid_utf8(text)) << "stray byte at " << at << " of " << length;
      text[at] = '\xC3';  // a lead byte followed by ASCII, or by nothing
      EXPECT_FALSE(is_valid_utf8(text)) << "lone lead byte at " << at << " of " << length;
    }
  }
}

TEST(Utf8Test, AcceptsSequencesAtAnyOffsetOfLongText) {
  for (std::size_t at = 0; at <= 24; ++at) {
    const std::string before(at, 'a');
    EXPECT_TRUE(is_valid_utf8(before + "\xE2\x82\xAC" + std::string(20, 'b'))) << at;
    EXPECT_TRUE(is_valid_utf8(before + "\xF0\x9F\x91\x8B")) << at;
    EXPECT_FALSE(is_valid_utf8(before + "\xF0\x9F\x91")) << at;  // cut short at the end
  }
}

TEST(TextTest, LowercaseAndControlCharacters) {
  EXPECT_EQ(lowercase("Content-Type: ABC"), "content-type: abc");
  EXPECT_TRUE(has_control_characters(std::string("a\x01b")));
  EXPECT_TRUE(has_control_characters("a\x7F"));
  EXPECT_FALSE(has_control_characters("plain text \xC3\xA9"));
}
