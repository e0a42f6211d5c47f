#pragma once

#include <string>
#include <string_view>

namespace ssehub::core {

// ASCII lower case (HTTP field names, hosts, hex).
std::string lowercase(std::string_view text);

// Strict UTF-8 check (no overlongs, no surrogates). Hand-written: none of our libraries
// exposes a validator for arbitrary bytes.
bool is_valid_utf8(std::string_view text);

// Any C0 control character or DEL.
bool has_control_characters(std::string_view text);

}  // namespace ssehub::core
