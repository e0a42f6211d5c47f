#include "http/host_policy.hpp"

#include <gtest/gtest.h>

namespace ssehub::http {
namespace {

TEST(HostPolicyTest, WithoutAuthAnswersIpAddressesAndLocalhostOnly) {
  const HostPolicy policy(false, {});
  for (const char* host : {"localhost", "localhost:3000", "LOCALHOST", "localhost.", "app.localhost:1",
                           "127.0.0.1:3000", "10.1.2.3", "[::1]:3000", "[fe80::1]"})
    EXPECT_TRUE(policy.allows(host)) << host;
  // A DNS rebinding page's request names the attacker's host.
  for (const char* host : {"evil.example", "evil.example:3000", "localhost.evil.example",
                           "127.0.0.1.nip.io", "1.2.3", "", "[::1", "a b"})
    EXPECT_FALSE(policy.allows(host)) << host;
}

TEST(HostPolicyTest, ListedNamesAndTheWildcard) {
  const HostPolicy listed(false, {"ssehub.internal"});
  EXPECT_TRUE(listed.allows("ssehub.internal:3000"));
  EXPECT_TRUE(listed.allows("SSEHUB.internal"));
  EXPECT_FALSE(listed.allows("other.internal"));
  EXPECT_TRUE(HostPolicy(false, {"*"}).allows("anything.example"));
  EXPECT_TRUE(HostPolicy(true, {}).allows("anything.example"));
}

}  // namespace
}  // namespace ssehub::http
