#include "http/client_limits.hpp"

#include <gtest/gtest.h>

using namespace ssehub::http;

namespace {
const auto kAlice = boost::asio::ip::make_address("127.0.0.2");
const auto kBob = boost::asio::ip::make_address("::1");
}  // namespace

TEST(ClientLimitsTest, ConnectionSlotsAreCountedPerAddressAndReleased) {
  auto limits = std::make_shared<ClientLimits>(ClientLimitSettings{.max_connections_per_address = 2});
  auto first = limits->acquire_connection(kAlice);
  auto second = limits->acquire_connection(kAlice);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(limits->acquire_connection(kAlice));
  EXPECT_TRUE(limits->acquire_connection(kBob));  // another address has its own count
  first->reset();
  EXPECT_TRUE(limits->acquire_connection(kAlice));
}

TEST(ClientLimitsTest, TokenBucketAllowsTheBurstThenAsksToWait) {
  auto limits = std::make_shared<ClientLimits>(
      ClientLimitSettings{.requests_per_second = 1, .burst = 3});
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limits->take_request(kAlice)) << i;
  auto wait = limits->take_request(kAlice);
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->count(), 1);
  EXPECT_FALSE(limits->take_request(kBob));
}

TEST(ClientLimitsTest, NoLimitsConfiguredMeansNoRefusals) {
  auto limits = std::make_shared<ClientLimits>(ClientLimitSettings{});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(limits->acquire_connection(kAlice));
    EXPECT_FALSE(limits->take_request(kAlice));
  }
}
