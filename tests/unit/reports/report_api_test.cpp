#include "reports/report_api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace ssehub::reports;
using ssehub::domain::ReportStatus;
using ssehub::domain::StatusChange;

namespace {
int status_of(const std::variant<StatusChange, ssehub::http::Response>& parsed) {
  if (std::holds_alternative<StatusChange>(parsed)) return 0;
  return static_cast<int>(std::get<ssehub::http::Response>(parsed).result_int());
}
std::string error_of(const std::variant<StatusChange, ssehub::http::Response>& parsed) {
  return std::get<ssehub::http::Response>(parsed).body();
}
constexpr const char* kId = "3f2b8a9e-6d1c-4e2f-9a7b-1c2d3e4f5a6b";
}  // namespace

TEST(StatusChangeBodyTest, ValidBodyIsParsedWithAnyCaseStatus) {
  auto parsed = parse_status_change("application/json; charset=utf-8",
                                    std::string(R"({"id":")") + kId + R"(","status":"Queued"})");
  ASSERT_TRUE(std::holds_alternative<StatusChange>(parsed));
  EXPECT_EQ(std::get<StatusChange>(parsed).report_id, kId);
  EXPECT_EQ(std::get<StatusChange>(parsed).status, ReportStatus::Queued);
}

TEST(StatusChangeBodyTest, WhitespaceAroundTheParametersSemicolonIsStillJson) {
  for (const char* type : {"application/json ; charset=utf-8", "Application/JSON\t;charset=utf-8",
                           " application/json"}) {
    auto parsed = parse_status_change(type, std::string(R"({"id":")") + kId + R"(","status":"queued"})");
    EXPECT_TRUE(std::holds_alternative<StatusChange>(parsed)) << type;
  }
}

TEST(StatusChangeBodyTest, EachClassOfBadBodyIsA400NamingTheProblem) {
  const std::string good_id = std::string(R"("id":")") + kId + "\"";
  struct Case {
    std::string content_type, body, error;
  } cases[] = {
      {"text/plain", "{" + good_id + R"(,"status":"queued"})", "unsupported_content_type"},
      {"application/json", "{not json", "invalid_json"},
      {"application/json", "[1,2]", "invalid_json"},
      {"application/json", R"({"status":"queued"})", "missing_report_id"},
      {"application/json", R"({"id":"nope","status":"queued"})", "invalid_report_id"},
      {"application/json", "{" + good_id + "}", "missing_status"},
      {"application/json", "{" + good_id + R"(,"status":"done"})", "invalid_status"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_status_change(c.content_type, c.body);
    EXPECT_EQ(status_of(parsed), 400) << c.body;
    EXPECT_NE(error_of(parsed).find(c.error), std::string::npos) << c.body;
  }
}

TEST(StatusChangeRefusalTest, EachDomainErrorIsA400WithItsCodeAndTheDomainsWords) {
  using F = ssehub::domain::StatusChangeFault;
  const std::pair<F, const char*> codes[] = {{F::NotAnObject, "invalid_json"},
                                             {F::MissingReportId, "missing_report_id"},
                                             {F::InvalidReportId, "invalid_report_id"},
                                             {F::MissingStatus, "missing_status"},
                                             {F::InvalidStatus, "invalid_status"}};
  for (const auto& [fault, code] : codes) {
    const auto response = refusal_for({fault, "what the validator said"});
    EXPECT_EQ(response.result_int(), 400) << code;
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], code);
    EXPECT_EQ(body["detail"], "what the validator said");
  }
}
