#pragma once

#include "domain/report.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

// The rules for what users and publishers send, whichever door it comes in by: an HTTP request
// or a Kafka record. A check answers with a domain error, the rule that was broken and what
// to tell the sender; HTTP turns it into its 400/413 answers, ingestion into a skip reason.
namespace ssehub::domain {

// How much may be sent: --max-username-bytes, --max-body-bytes and --max-event-bytes.
struct Limits {
  std::size_t max_username_bytes = 0;
  std::size_t max_message_bytes = 0;
  std::size_t max_event_bytes = 0;
};

// A broken rule (one of the Fault enums below) and what the sender is told about it.
template <typename Fault>
struct Error {
  Fault fault;
  std::string message;
};

enum class UsernameFault { Empty, TooLong, NotUtf8, ControlCharacter };
using UsernameError = Error<UsernameFault>;

// A username a stream can be opened for: UTF-8 text of 1 to max_username_bytes bytes without
// control characters. nullopt when it is one.
std::optional<UsernameError> check_username(std::string_view username, const Limits& limits);

enum class MessageFault { Empty, NotUtf8, TooLong, EventTooLarge };
using MessageError = Error<MessageFault>;

// A message every client can take as one event: not empty (EventSource drops an event without
// data), UTF-8 text, at most max_message_bytes, and encoded as an event of at most
// max_event_bytes (every line gets a `data: ` prefix), what clients are asked to buffer.
std::optional<MessageError> check_message(std::string_view message, const Limits& limits);

enum class StatusChangeFault {
  NotAnObject,
  MissingReportId,
  InvalidReportId,
  MissingStatus,
  InvalidStatus
};
using StatusChangeError = Error<StatusChangeFault>;

// A request to move a report to another status.
struct StatusChange {
  std::string report_id;  // canonical (lower-case) UUID
  ReportStatus status;
};

// Reads a change `{"id": UUID, "status": STATUS}` (status in any letter case; other members
// are ignored). Whether the report may make that move is the state machine's to say.
std::variant<StatusChange, StatusChangeError> parse_status_change(std::string_view json);

}  // namespace ssehub::domain
