#pragma once

#include "metrics/metrics.hpp"

#include <cstddef>
#include <string_view>
#include <variant>

namespace ssehub::bus {


struct UserMessage {
  std::string_view username;
  std::string_view message;  // may contain colons
};

// Splits a v3 record `username:message` at the first colon.
std::variant<UserMessage, SkipReason> parse_user_message(std::string_view record,
                                                         std::size_t max_bytes,
                                                         std::size_t max_username_bytes);

}  // namespace ssehub::bus
