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
  return UserMessage{record.substr(0, colon), record.substr(colon + 1)};
}

}  // namespace ssehub::bus
