#include "http/cors.hpp"

#include <gtest/gtest.h>

namespace ssehub::http {
namespace {

TEST(CorsPolicyTest, DefaultAllowsLocalhostOriginsAndTheServersOwn) {
  const CorsPolicy policy({});
  for (const char* origin : {"http://localhost:5173", "http://127.0.0.1", "https://[::1]:8443",
                             "http://localhost"})
    EXPECT_EQ(policy.allow(origin, "ssehub.example:3000"), origin) << origin;
  EXPECT_EQ(policy.allow("https://ssehub.example:3000", "ssehub.example:3000"),
            "https://ssehub.example:3000");
  EXPECT_EQ(policy.allow("https://evil.example", "ssehub.example:3000"), "");
}

TEST(CorsPolicyTest, DefaultRefusesOriginsNoBrowserSends) {
  const CorsPolicy policy({});
  for (const char* origin :
       {"http://[::1].evil.com", "http://localhost:@evil.com", "http://localhost@evil.com",
        "http://localhost.evil.com", "http://localhost/path", "http://localhost:80:80",
        "http://127.0.0.1.evil.com", "ftp://localhost", "localhost", "null", "http://",
        "http://localhost:99999", "http://local%68ost", "HTTP://localhost x"})
    EXPECT_EQ(policy.allow(origin, "localhost:3000"), "") << origin;
}

TEST(CorsPolicyTest, AnAllowlistAllowsExactlyItsEntries) {
  const CorsPolicy policy({"https://app.example"});
  EXPECT_EQ(policy.allow("https://app.example", "x"), "https://app.example");
  EXPECT_EQ(policy.allow("http://localhost:5173", "x"), "");
  EXPECT_EQ(CorsPolicy({"*"}).allow("https://any.example", "x"), "*");
}

}  // namespace
}  // namespace ssehub::http
