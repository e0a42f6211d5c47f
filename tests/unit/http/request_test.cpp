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
  EXPECT_FALSE(parse_target("/a%41%4"));
  EXPECT_FALSE(parse_target("/a%41/%g1"));
  EXPECT_FALSE(parse_target("/x?a=%41%"));
  ASSERT_TRUE(parse_target("/a%41b%2f"));
  EXPECT_EQ(parse_target("/a%41b%2f")->decoded_path(), "/aAb/");
  EXPECT_EQ(parse_target("/a+b?k+1=%41+%2B")->param("k 1"), "A +");
  EXPECT_EQ(parse_target("/a+b")->decoded_path(), "/a+b") << "a + is a space in the query only";
}

TEST(RequestTargetTest, ThePathStaysRawAndOnlyTheQueryIsDecoded) {
  // Decoding the path before routing would make /v2%2Fmessage reach /v2/message.
  auto target = parse_target("/v2%2Fmessage?username=a%2Fb");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/v2%2Fmessage");
  EXPECT_EQ(target->param("username"), "a/b");
  EXPECT_EQ(target->decoded_path(), "/v2/message");
}

TEST(RequestTargetTest, AbsoluteFormIsRoutedByItsPath) {
  auto target = parse_target("http://localhost:3000/v2/sse?username=a");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/v2/sse");
  EXPECT_EQ(target->authority, "localhost:3000");
  EXPECT_EQ(target->param("username"), "a");
  auto root = parse_target("HTTPS://example.com?x=1");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->path, "/");
  EXPECT_EQ(root->param("x"), "1");
  EXPECT_FALSE(parse_target("ftp://example.com/x"));
  EXPECT_FALSE(parse_target("http://user@example.com/x"));
  EXPECT_FALSE(parse_target("example.com:443"));
}

TEST(AuthorityTest, ParsesHostsAndPortsAsRfc3986Says) {
  auto plain = parse_authority("example.com:8080");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "example.com");
  EXPECT_EQ(plain->port, 8080);
  EXPECT_FALSE(plain->ip_literal);
  auto v6 = parse_authority("[::1]:3000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_TRUE(v6->ip_literal);
  auto v4 = parse_authority("127.0.0.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->ip_literal);
  EXPECT_FALSE(parse_authority("127.0.0.1.evil.com")->ip_literal);
  EXPECT_FALSE(parse_authority("1.2.3")->ip_literal);
  EXPECT_TRUE(parse_authority("example.com:"));  // an empty port is the default
  for (const char* bad : {"", ":80", "a b", "user@host", "[::1", "[::1]x", "[nothex]", "host:65536",
                          "host:-1", "host:80:80", "host/path"})
    EXPECT_FALSE(parse_authority(bad)) << bad;
}

TEST(AuthorityTest, OnlyCanonicalDottedQuadsAreIpv4Literals) {
  for (const char* ip : {"0.0.0.0", "127.0.0.1", "255.255.255.255", "10.20.30.40"})
    EXPECT_TRUE(parse_authority(ip)->ip_literal) << ip;
  for (const char* name : {"256.1.1.1", "01.2.3.4", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.4a",
                           "1234.1.1.1", "localhost", "1.2.3"})
    EXPECT_FALSE(parse_authority(name)->ip_literal) << name;
}
