#include "domain/report.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <utility>

using namespace ssehub::domain;
using S = ReportStatus;

TEST(ReportStateMachineTest, AllThirtySixPairsMatchTheLifeCycle) {
  const std::set<std::pair<S, S>> valid = {
      {S::Pending, S::Queued},       {S::Pending, S::Canceled},   {S::Queued, S::Processing},
      {S::Queued, S::Canceled},      {S::Processing, S::Completed}, {S::Processing, S::Failed},
      {S::Failed, S::Pending},       {S::Canceled, S::Pending}};
  int pairs = 0;
  for (S from : kAllStatuses) {
    for (S to : kAllStatuses) {
      ++pairs;
      EXPECT_EQ(is_valid_transition(from, to), valid.count({from, to}) == 1)
          << to_string(from) << " -> " << to_string(to);
    }
  }
  EXPECT_EQ(pairs, 36);
}

TEST(ReportStateMachineTest, CompletedIsFinal) {
  for (S to : kAllStatuses) EXPECT_FALSE(is_valid_transition(S::Completed, to));
}

TEST(ReportStatusTest, ParsesAnyCaseAndPrintsLowercase) {
  EXPECT_EQ(parse_status("QUEUED"), S::Queued);
  EXPECT_EQ(parse_status("Processing"), S::Processing);
  EXPECT_EQ(parse_status("canceled"), S::Canceled);
  EXPECT_EQ(parse_status("cancelled"), std::nullopt);
  EXPECT_EQ(parse_status(""), std::nullopt);
  for (S status : kAllStatuses) EXPECT_EQ(parse_status(to_string(status)), status);
}

TEST(ReportJsonTest, WireShapeIsCamelCaseWithRfc3339Times) {
  Report report{.user_id = "u", .report_id = "r", .status = S::Failed, .created_ms = 0,
                .updated_ms = 1764370855123};
  const auto json = to_json(report);
  EXPECT_EQ(json["userId"], "u");
  EXPECT_EQ(json["reportId"], "r");
  EXPECT_EQ(json["reportStatus"], "failed");
  EXPECT_EQ(json["createdAt"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(json["updatedAt"], "2025-11-28T23:00:55.123Z");
  EXPECT_EQ(parse_rfc3339("2025-11-28T23:00:55.123Z"), 1764370855123);
}
