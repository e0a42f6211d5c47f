#include "http/body_budget.hpp"

#include <gtest/gtest.h>

namespace ssehub::http {
namespace {

TEST(BodyBudgetTest, SharesGrowUntilTheBudgetIsSpentAndGiveBackWhenReleased) {
  Metrics metrics;
  BodyBudget budget(1000, metrics);
  auto first = budget.share();
  EXPECT_TRUE(first->grow_to(600));
  EXPECT_TRUE(first->grow_to(400));  // never shrinks while held
  auto second = budget.share();
  EXPECT_FALSE(second->grow_to(401));
  EXPECT_TRUE(second->grow_to(400));
  EXPECT_EQ(budget.held(), 1000u);
  EXPECT_EQ(metrics.request_body_bytes_buffered.value(), 1000);
  first.reset();
  EXPECT_EQ(budget.held(), 400u);
  EXPECT_TRUE(second->grow_to(1000));
  second.reset();
  EXPECT_EQ(budget.held(), 0u);
  EXPECT_EQ(metrics.request_body_bytes_buffered.value(), 0);
}

}  // namespace
}  // namespace ssehub::http
