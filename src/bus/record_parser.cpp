#include "bus/record_parser.hpp"

#include "http/request.hpp"

namespace ssehub::bus {

std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes) {
  if (record.size() > max_bytes) return SkipReason::TooLarge;
  const std::size_t colon = record.find(':');
  if (colon == std::string_view::npos) return SkipReason::NoColon;
  if (colon == 0) return SkipReason::EmptyUsername;
  if (colon > max_username_bytes) return SkipReason::TooLarge;
  if (!http::is_valid_utf8(record)) return SkipReason::InvalidUtf8;
  const std::string_view username = record.substr(0, colon);
  for (unsigned char c : username)
    if (c < 0x20 || c == 0x7F) return SkipReason::InvalidUsername;  // no stream could open it
  // An event without data is dropped by EventSource, and HTTP refuses it too.
  if (colon + 1 == record.size()) return SkipReason::EmptyMessage;
  return UserMessage{username, record.substr(colon + 1)};
}

}  // namespace ssehub::bus
