#include "ingest/record_parser.hpp"

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

SkipReason skip_reason(domain::UsernameFault fault) {
  using F = domain::UsernameFault;
  switch (fault) {
    case F::Empty: return SkipReason::EmptyUsername;
    case F::TooLong: return SkipReason::TooLarge;
    case F::NotUtf8: return SkipReason::InvalidUtf8;
    case F::ControlCharacter: return SkipReason::InvalidUsername;  // no stream could open it
  }
  return SkipReason::Count;
}

SkipReason skip_reason(domain::MessageFault fault) {
  using F = domain::MessageFault;
  switch (fault) {
    case F::Empty: return SkipReason::EmptyMessage;
    case F::NotUtf8: return SkipReason::InvalidUtf8;
    case F::TooLong:
    case F::EventTooLarge: return SkipReason::TooLarge;
  }
  return SkipReason::Count;
}

SkipReason skip_reason(domain::StatusChangeFault fault) {
  using F = domain::StatusChangeFault;
  switch (fault) {
    case F::NotAnObject:
    case F::MissingReportId:
    case F::MissingStatus: return SkipReason::InvalidJson;
    case F::InvalidReportId: return SkipReason::InvalidReportId;
    case F::InvalidStatus: return SkipReason::InvalidStatus;
  }
  return SkipReason::Count;
}

std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes,
                                                         std::size_t max_event_bytes) {
  if (record.size() > max_bytes) return SkipReason::TooLarge;
  const std::size_t colon = record.find(':');
  if (colon == std::string_view::npos) return SkipReason::NoColon;
  const domain::Limits limits{.max_username_bytes = max_username_bytes,
                              .max_message_bytes = max_bytes,
                              .max_event_bytes = max_event_bytes};
  const UserMessage parsed{record.substr(0, colon), record.substr(colon + 1)};
  if (auto error = domain::check_username(parsed.username, limits))
    return skip_reason(error->fault);
  if (auto error = domain::check_message(parsed.message, limits)) return skip_reason(error->fault);
  return parsed;
}

std::variant<domain::StatusChange, SkipReason> parse_status_record(std::string_view record,
                                                                   std::size_t max_bytes) {
  if (record.size() > max_bytes) return SkipReason::TooLarge;
  auto change = domain::parse_status_change(record);
  if (auto* error = std::get_if<domain::StatusChangeError>(&change))
    return skip_reason(error->fault);
  return std::get<domain::StatusChange>(std::move(change));
}

}  // namespace ssehub::ingest
