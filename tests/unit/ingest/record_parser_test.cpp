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
  ASSERT_TRUE(std::holds_alternative<domain::StatusChange>(parsed));
  EXPECT_EQ(std::get<domain::StatusChange>(parsed).report_id, kReportId);
  EXPECT_EQ(std::get<domain::StatusChange>(parsed).status, domain::ReportStatus::Queued);
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

TEST(SkipReasonOfADomainError, KeepsTheLabelsOfTheRulesAsIngestionCountedThem) {
  using U = domain::UsernameFault;
  EXPECT_EQ(skip_reason(U::Empty), SkipReason::EmptyUsername);
  EXPECT_EQ(skip_reason(U::TooLong), SkipReason::TooLarge);
  EXPECT_EQ(skip_reason(U::NotUtf8), SkipReason::InvalidUtf8);
  EXPECT_EQ(skip_reason(U::ControlCharacter), SkipReason::InvalidUsername);
  using M = domain::MessageFault;
  EXPECT_EQ(skip_reason(M::Empty), SkipReason::EmptyMessage);
  EXPECT_EQ(skip_reason(M::NotUtf8), SkipReason::InvalidUtf8);
  EXPECT_EQ(skip_reason(M::TooLong), SkipReason::TooLarge);
  EXPECT_EQ(skip_reason(M::EventTooLarge), SkipReason::TooLarge);
  using C = domain::StatusChangeFault;
  EXPECT_EQ(skip_reason(C::NotAnObject), SkipReason::InvalidJson);
  EXPECT_EQ(skip_reason(C::MissingReportId), SkipReason::InvalidJson);
  EXPECT_EQ(skip_reason(C::InvalidReportId), SkipReason::InvalidReportId);
  EXPECT_EQ(skip_reason(C::MissingStatus), SkipReason::InvalidJson);
  EXPECT_EQ(skip_reason(C::InvalidStatus), SkipReason::InvalidStatus);
}

TEST(SkipReasonOfADomainError, EveryRecordIsSkippedForTheRuleTheValidatorNames) {
  // The record parser asks the validator: each record's reason is the validator's fault.
  const domain::Limits limits{.max_username_bytes = kMaxUsername,
                              .max_message_bytes = kMaxBytes,
                              .max_event_bytes = kMaxEvent};
  const std::string usernames[] = {"",
                                   "ali\x01"
                                   "ce",
                                   "\xC3\x28", std::string(kMaxUsername + 1, 'u')};
  for (const auto& username : usernames) {
    const auto error = domain::check_username(username, limits);
    ASSERT_TRUE(error) << username;
    EXPECT_EQ(user_message_skip(username + ":hi"), skip_reason(error->fault)) << username;
  }
  const std::string messages[] = {"\xC3\x28", std::string(9000, '\n')};
  for (const auto& message : messages) {
    const auto error = domain::check_message(message, limits);
    ASSERT_TRUE(error);
    EXPECT_EQ(user_message_skip("alice:" + message), skip_reason(error->fault));
  }
}

}  // namespace
}  // namespace ssehub::ingest
