#include "domain/validator.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ssehub::domain {
namespace {

constexpr Limits kLimits{.max_username_bytes = 8, .max_message_bytes = 64, .max_event_bytes = 48};

std::optional<UsernameFault> username_fault(std::string_view username) {
  const auto error = check_username(username, kLimits);
  return error ? std::optional(error->fault) : std::nullopt;
}

std::optional<MessageFault> message_fault(std::string_view message) {
  const auto error = check_message(message, kLimits);
  return error ? std::optional(error->fault) : std::nullopt;
}

TEST(UsernameRule, AcceptsUtf8TextUpToTheLimitInBytes) {
  EXPECT_EQ(username_fault("alice"), std::nullopt);
  EXPECT_EQ(username_fault("12345678"), std::nullopt);
  EXPECT_EQ(username_fault("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"), std::nullopt);  // 4 x é, 8 bytes
}

TEST(UsernameRule, NamesTheRuleItBreaks) {
  EXPECT_EQ(username_fault(""), UsernameFault::Empty);
  EXPECT_EQ(username_fault("123456789"), UsernameFault::TooLong);
  EXPECT_EQ(username_fault("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"), UsernameFault::TooLong);
  EXPECT_EQ(username_fault("al\xC3\x28"), UsernameFault::NotUtf8);
  EXPECT_EQ(username_fault("al\x01"
                           "ce"),
            UsernameFault::ControlCharacter);
  EXPECT_EQ(username_fault("al\x7F"), UsernameFault::ControlCharacter);
  // Both wrong: the bytes are judged as text first.
  EXPECT_EQ(username_fault("\x01\xFF"), UsernameFault::NotUtf8);
}

TEST(UsernameRule, TheMessageSaysTheSizeAndTheLimit) {
  EXPECT_EQ(check_username("123456789", kLimits)->message, "username is 9 bytes; the limit is 8");
}

TEST(MessageRule, NamesTheRuleItBreaks) {
  EXPECT_EQ(message_fault("hi: there"), std::nullopt);
  EXPECT_EQ(message_fault(""), MessageFault::Empty);
  EXPECT_EQ(message_fault("\xED\xA0\x80"), MessageFault::NotUtf8);  // a UTF-16 surrogate
  EXPECT_EQ(message_fault(std::string(65, 'x')), MessageFault::TooLong);
}

TEST(MessageRule, AnEventLargerThanClientsBufferIsRefusedCountingEveryDataPrefix) {
  // An event is `data: ` + line + `\n` per line, an id line of up to 20 digits and a blank
  // line: 33 bytes around a one-line message.
  const std::size_t fixed = 33;
  const std::string fits(kLimits.max_event_bytes - fixed, 'x');
  EXPECT_EQ(message_fault(fits), std::nullopt);
  EXPECT_EQ(message_fault(fits + "x"), MessageFault::EventTooLarge);
  // The same bytes split in lines cost a `data: ` each.
  EXPECT_EQ(message_fault(fits.substr(2) + "\nx"), MessageFault::EventTooLarge);
  const auto error = check_message(fits + "x", kLimits);
  EXPECT_NE(error->message.find("event of 49 bytes"), std::string::npos) << error->message;
  EXPECT_NE(error->message.find("the limit is 48 (--max-event-bytes)"), std::string::npos)
      << error->message;
}

constexpr const char* kId = "0b7e1c5e-2f7a-4c41-9d55-3c1b2a4e8f10";

std::optional<StatusChangeFault> change_fault(const std::string& json) {
  const auto parsed = parse_status_change(json);
  if (const auto* error = std::get_if<StatusChangeError>(&parsed)) return error->fault;
  return std::nullopt;
}

TEST(StatusChangeRule, ReadsTheIdCanonicallyAndTheStatusInAnyCase) {
  const auto parsed = parse_status_change(
      R"({"id": "0B7E1C5E-2F7A-4C41-9D55-3C1B2A4E8F10", "status": "PROCESSING", "x": 1})");
  ASSERT_TRUE(std::holds_alternative<StatusChange>(parsed));
  EXPECT_EQ(std::get<StatusChange>(parsed).report_id, kId);
  EXPECT_EQ(std::get<StatusChange>(parsed).status, ReportStatus::Processing);
}

TEST(StatusChangeRule, NamesTheRuleItBreaksInTheOrderAReaderChecksThem) {
  const std::string id = std::string(R"("id": ")") + kId + "\"";
  EXPECT_EQ(change_fault("{"), StatusChangeFault::NotAnObject);
  EXPECT_EQ(change_fault(R"(["id", "status"])"), StatusChangeFault::NotAnObject);
  EXPECT_EQ(change_fault(R"({"status": "queued"})"), StatusChangeFault::MissingReportId);
  EXPECT_EQ(change_fault(R"({"id": 7, "status": "queued"})"), StatusChangeFault::MissingReportId);
  EXPECT_EQ(change_fault(R"({"id": "not-a-uuid"})"), StatusChangeFault::InvalidReportId);
  EXPECT_EQ(change_fault("{" + id + "}"), StatusChangeFault::MissingStatus);
  EXPECT_EQ(change_fault("{" + id + R"(, "status": ["queued"]})"),
            StatusChangeFault::MissingStatus);
  EXPECT_EQ(change_fault("{" + id + R"(, "status": "cancelled"})"),
            StatusChangeFault::InvalidStatus);
}

TEST(StatusChangeRule, AnUnknownStatusIsAnsweredWithEveryKnownOne) {
  const auto parsed =
      parse_status_change(std::string(R"({"id": ")") + kId + R"(", "status": "done"})");
  EXPECT_EQ(std::get<StatusChangeError>(parsed).message,
            "unknown status; use one of pending, queued, processing, canceled, failed, completed");
}

}  // namespace
}  // namespace ssehub::domain
