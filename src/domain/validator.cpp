#include "domain/validator.hpp"

#include "core/ids.hpp"
#include "core/text.hpp"
#include "sse/encoder.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::domain {

std::optional<UsernameError> check_username(std::string_view username, const Limits& limits) {
  if (username.empty()) return UsernameError{UsernameFault::Empty, "the username is empty"};
  if (username.size() > limits.max_username_bytes)
    return UsernameError{UsernameFault::TooLong, "username is " + std::to_string(username.size()) +
                                                     " bytes; the limit is " +
                                                     std::to_string(limits.max_username_bytes)};
  static const std::string kText = "username must be UTF-8 text without control characters";
  if (!core::is_valid_utf8(username)) return UsernameError{UsernameFault::NotUtf8, kText};
  if (core::has_control_characters(username))
    return UsernameError{UsernameFault::ControlCharacter, kText};
  return std::nullopt;
}

std::optional<MessageError> check_message(std::string_view message, const Limits& limits) {
  if (message.empty()) return MessageError{MessageFault::Empty, "the message is empty"};
  if (!core::is_valid_utf8(message))
    return MessageError{MessageFault::NotUtf8, "the message must be UTF-8 text"};
  if (message.size() > limits.max_message_bytes)
    return MessageError{
        MessageFault::TooLong,
        "the message exceeds " + std::to_string(limits.max_message_bytes) + " bytes"};
  const std::size_t event_size = sse::encoded_event_size("", message);
  if (event_size > limits.max_event_bytes)
    return MessageError{MessageFault::EventTooLarge,
                        "the message is sent as an event of " + std::to_string(event_size) +
                            " bytes (every line gets a `data: ` prefix); the limit is " +
                            std::to_string(limits.max_event_bytes) + " (--max-event-bytes)"};
  return std::nullopt;
}

std::variant<StatusChange, StatusChangeError> parse_status_change(std::string_view json) {
  using F = StatusChangeFault;
  const auto change = nlohmann::json::parse(json, nullptr, false);
  if (change.is_discarded() || !change.is_object())
    return StatusChangeError{
        F::NotAnObject,
        R"(the body must be a JSON object like {"id": "<report uuid>", "status": "queued"})"};
  const auto id = change.find("id");
  if (id == change.end() || !id->is_string())
    return StatusChangeError{F::MissingReportId,
                             "the body needs `id`, the report's UUID, as a string"};
  auto report_id = core::canonical_uuid(id->get_ref<const std::string&>());
  if (!report_id) return StatusChangeError{F::InvalidReportId, "`id` must be a report UUID"};
  const auto status_field = change.find("status");
  if (status_field == change.end() || !status_field->is_string())
    return StatusChangeError{F::MissingStatus, "the body needs `status` as a string"};
  const auto status = parse_status(status_field->get_ref<const std::string&>());
  if (!status) {
    std::string known;
    for (ReportStatus each : kAllStatuses)
      known += (known.empty() ? "" : ", ") + std::string(to_string(each));
    return StatusChangeError{F::InvalidStatus, "unknown status; use one of " + known};
  }
  return StatusChange{std::move(*report_id), *status};
}

}  // namespace ssehub::domain
