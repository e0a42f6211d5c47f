#pragma once

#include "domain/validator.hpp"

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

// The reason to skip a record whose username, message or change the domain refuses.
SkipReason skip_reason(domain::UsernameFault fault);
SkipReason skip_reason(domain::MessageFault fault);
SkipReason skip_reason(domain::StatusChangeFault fault);

struct UserMessage {
  std::string_view username;
  std::string_view message;  // may contain colons
};

// Splits a v3 record `username:message` at the first colon; the username and the message
// must pass the domain's checks, as over HTTP.
std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes,
                                                         std::size_t max_event_bytes);

// Reads a v4 record `{"id": UUID, "status": STATUS}`, the body of PUT /v4/report.
std::variant<domain::StatusChange, SkipReason> parse_status_record(std::string_view record,
                                                                   std::size_t max_bytes);

}  // namespace ssehub::ingest
