#include "http/body_budget.hpp"
#include "http/http_metrics.hpp"

#include <gtest/gtest.h>

namespace ssehub::http {
namespace {

TEST(BodyBudgetTest, SharesGrowUntilTheBudgetIsSpentAndGiveBackWhenReleased) {
  metrics::Registry metrics;
  HttpMetrics http(metrics);
  BodyBudget budget(1000, http.request_body_bytes_buffered);
  auto first = budget.share();
  EXPECT_TRUE(first->grow_to(600));
  EXPECT_TRUE(first->grow_to(400));  // never shrinks while held
  auto second = budget.share();
  EXPECT_FALSE(second->grow_to(401));
  EXPECT_TRUE(second->grow_to(400));
  EXPECT_EQ(budget.held(), 1000u);
  EXPECT_EQ(metrics.value("ssehub_request_body_bytes_buffered"), 1000);
  first.reset();
  EXPECT_EQ(budget.held(), 400u);
  EXPECT_TRUE(second->grow_to(1000));
  second.reset();
  EXPECT_EQ(budget.held(), 0u);
  EXPECT_EQ(metrics.value("ssehub_request_body_bytes_buffered"), 0);
}

}  // namespace
}  // namespace ssehub::http
