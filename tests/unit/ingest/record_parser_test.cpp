#include "ingest/record_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ssehub::ingest {
namespace {

constexpr std::size_t kMaxBytes = 64 * 1024;
constexpr std::size_t kMaxUsername = 256;
constexpr std::size_t kMaxEvent = 60 * 1024;

UserMessage user_message(std::string_view record) {
  auto parsed = parse_user_message(record, kMaxBytes, kMaxUsername, kMaxEvent);
  EXPECT_TRUE(std::holds_alternative<UserMessage>(parsed)) << record;
  return std::holds_alternative<UserMessage>(parsed) ? std::get<UserMessage>(parsed) : UserMessage{};
}

SkipReason user_message_skip(std::string_view record, std::size_t max_bytes = kMaxBytes) {
  auto parsed = parse_user_message(record, max_bytes, kMaxUsername, kMaxEvent);
  EXPECT_TRUE(std::holds_alternative<SkipReason>(parsed)) << record;
  return std::holds_alternative<SkipReason>(parsed) ? std::get<SkipReason>(parsed) : SkipReason::Count;
}

TEST(UserMessageRecord, SplitsAtTheFirstColonSoTheMessageKeepsItsColons) {
  const auto parsed = user_message("alice:at 10:30: lunch");
  EXPECT_EQ(parsed.username, "alice");
  EXPECT_EQ(parsed.message, "at 10:30: lunch");
}

TEST(UserMessageRecord, NamesWhyARecordIsSkipped) {
  EXPECT_EQ(user_message_skip("no colon here"), SkipReason::NoColon);
  EXPECT_EQ(user_message_skip(":nobody"), SkipReason::EmptyUsername);
  EXPECT_EQ(user_message_skip("alice:"), SkipReason::EmptyMessage);
  EXPECT_EQ(user_message_skip("alice:\xC3\x28"), SkipReason::InvalidUtf8);
  EXPECT_EQ(user_message_skip("ali\x01" "ce:hi"), SkipReason::InvalidUsername);
  EXPECT_EQ(user_message_skip(std::string(kMaxUsername + 1, 'u') + ":hi"), SkipReason::TooLarge);
  EXPECT_EQ(user_message_skip("alice:hello", 10), SkipReason::TooLarge);
}

TEST(UserMessageRecord, AMessageWhoseEventExceedsTheClientsLimitIsTooLargeAsOverHttp) {
  // 61407 bytes on one line encode to exactly 60 KiB; a line break costs 7 bytes more.
  user_message("alice:" + std::string(61407, 'x'));
  EXPECT_EQ(user_message_skip("alice:" + std::string(61408, 'x')), SkipReason::TooLarge);
  EXPECT_EQ(user_message_skip("alice:" + std::string(61401, 'x') + "\n"), SkipReason::TooLarge);
  user_message("alice:" + std::string(61400, 'x') + "\n");
  EXPECT_EQ(user_message_skip("alice:" + std::string(9000, '\n')), SkipReason::TooLarge);
}

constexpr const char* kReportId = "0b7e1c5e-2f7a-4c41-9d55-3c1b2a4e8f10";

TEST(StatusRecord, AcceptsAnyCaseAndCanonicalisesTheId) {
  const std::string record =
      R"({"id": "0B7E1C5E-2F7A-4C41-9D55-3C1B2A4E8F10", "status": "Queued", "extra": 1})";
  const auto parsed = parse_status_record(record, kMaxBytes);
  ASSERT_TRUE(std::holds_alternative<StatusRecord>(parsed));
  EXPECT_EQ(std::get<StatusRecord>(parsed).report_id, kReportId);
  EXPECT_EQ(std::get<StatusRecord>(parsed).status, domain::ReportStatus::Queued);
}

TEST(StatusRecord, NamesWhyARecordIsSkipped) {
  const auto reason = [](const std::string& record, std::size_t max_bytes = kMaxBytes) {
    const auto parsed = parse_status_record(record, max_bytes);
    EXPECT_TRUE(std::holds_alternative<SkipReason>(parsed)) << record;
    return std::holds_alternative<SkipReason>(parsed) ? std::get<SkipReason>(parsed) : SkipReason::Count;
  };
  const std::string id = kReportId;
  EXPECT_EQ(reason(R"({"id": ")" + id + R"(", "status": )"), SkipReason::InvalidJson);
  EXPECT_EQ(reason(R"(["not", "an", "object"])"), SkipReason::InvalidJson);
  EXPECT_EQ(reason(R"({"id": ")" + id + R"("})"), SkipReason::InvalidJson);
  EXPECT_EQ(reason(R"({"id": 7, "status": "queued"})"), SkipReason::InvalidJson);
  EXPECT_EQ(reason(R"({"id": ")" + id + R"(", "status": ["queued"]})"), SkipReason::InvalidJson);
  EXPECT_EQ(reason(R"({"id": "not-a-uuid", "status": "queued"})"), SkipReason::InvalidReportId);
  EXPECT_EQ(reason(R"({"id": ")" + id + R"(", "status": "done"})"), SkipReason::InvalidStatus);
  EXPECT_EQ(reason(R"({"id": ")" + id + R"(", "status": "queued"})", 20), SkipReason::TooLarge);
}

}  // namespace
}  // namespace ssehub::ingest
