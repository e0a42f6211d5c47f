#pragma once

#include "domain/report.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace ssehub::ingest {

// Why a Kafka record was skipped; one label value each on ssehub_kafka_records_skipped_total.
enum class SkipReason {
  NoColon,
  EmptyUsername,
  InvalidUtf8,
  TooLarge,
  InvalidJson,
  InvalidReportId,
  InvalidStatus,
  UnknownReport,
  InvalidTransition,
  EmptyMessage,
  InvalidUsername,
  Count
};
const char* skip_reason_label(SkipReason reason);

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
  domain::ReportStatus status;
};

// Reads a v4 record `{"id": UUID, "status": STATUS}` (status in any case, as PUT /v4/report).
std::variant<StatusRecord, SkipReason> parse_status_record(std::string_view record,
                                                           std::size_t max_bytes);

}  // namespace ssehub::ingest
