#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ssehub::core {

// A random (version 4) UUID in canonical lower-case form.
std::string random_uuid();

// `text` as a canonical (lower-case) UUID, or nullopt when it is not a UUID.
std::optional<std::string> canonical_uuid(std::string_view text);

}  // namespace ssehub::core
