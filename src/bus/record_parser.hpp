#pragma once

#include "metrics/metrics.hpp"
#include "reports/report.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace ssehub::bus {

struct UserMessage {
  std::string_view username;
  std::string_view message;  // may contain colons
};

// Splits a v3 record `username:message` at the first colon. A message whose event would
// exceed `max_event_bytes` is TooLarge, as over HTTP.
std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes,
                                                         std::size_t max_event_bytes);

struct StatusRecord {
  std::string report_id;  // canonical (lower-case) UUID
  reports::ReportStatus status;
};

// Reads a v4 record `{"id": UUID, "status": STATUS}` (status in any case, as PUT /v4/report).
std::variant<StatusRecord, SkipReason> parse_status_record(std::string_view record,
                                                           std::size_t max_bytes);

}  // namespace ssehub::bus
