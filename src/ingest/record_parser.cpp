#include "ingest/record_parser.hpp"

#include "core/ids.hpp"
#include "core/text.hpp"
#include "sse/encoder.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::ingest {

const char* skip_reason_label(SkipReason reason) {
  switch (reason) {
    case SkipReason::NoColon: return "no_colon";
    case SkipReason::EmptyUsername: return "empty_username";
    case SkipReason::InvalidUtf8: return "invalid_utf8";
    case SkipReason::TooLarge: return "too_large";
    case SkipReason::InvalidJson: return "invalid_json";
    case SkipReason::InvalidReportId: return "invalid_report_id";
    case SkipReason::InvalidStatus: return "invalid_status";
    case SkipReason::UnknownReport: return "unknown_report";
    case SkipReason::InvalidTransition: return "invalid_transition";
    case SkipReason::EmptyMessage: return "empty_message";
    case SkipReason::InvalidUsername: return "invalid_username";
    case SkipReason::Count: break;
  }
  return "unknown";
}

std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes,
                                                         std::size_t max_event_bytes) {
  if (record.size() > max_bytes) return SkipReason::TooLarge;
  const std::size_t colon = record.find(':');
  if (colon == std::string_view::npos) return SkipReason::NoColon;
  if (colon == 0) return SkipReason::EmptyUsername;
  if (colon > max_username_bytes) return SkipReason::TooLarge;
  if (!core::is_valid_utf8(record)) return SkipReason::InvalidUtf8;
  const std::string_view username = record.substr(0, colon);
  for (unsigned char c : username)
    if (c < 0x20 || c == 0x7F) return SkipReason::InvalidUsername;  // no stream could open it
  // An event without data is dropped by EventSource, and HTTP refuses it too.
  if (colon + 1 == record.size()) return SkipReason::EmptyMessage;
  const std::string_view message = record.substr(colon + 1);
  if (sse::encoded_event_size("", message) > max_event_bytes) return SkipReason::TooLarge;
  return UserMessage{username, message};
}

std::variant<StatusRecord, SkipReason> parse_status_record(std::string_view record,
                                                           std::size_t max_bytes) {
  if (record.size() > max_bytes) return SkipReason::TooLarge;
  const auto json = nlohmann::json::parse(record, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return SkipReason::InvalidJson;
  const auto id = json.find("id");
  const auto status = json.find("status");
  if (id == json.end() || !id->is_string() || status == json.end() || !status->is_string())
    return SkipReason::InvalidJson;
  auto report_id = core::canonical_uuid(id->get_ref<const std::string&>());
  if (!report_id) return SkipReason::InvalidReportId;
  const auto parsed_status = domain::parse_status(status->get_ref<const std::string&>());
  if (!parsed_status) return SkipReason::InvalidStatus;
  return StatusRecord{std::move(*report_id), *parsed_status};
}

}  // namespace ssehub::ingest
