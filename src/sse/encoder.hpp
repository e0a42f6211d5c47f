#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssehub::sse {

// Encodes one event per the WHATWG EventSource rules: every line of `data` (split at LF, CR
// or CRLF) becomes its own `data:` line, so the browser rebuilds the payload with LF breaks.
// `type` must be free of CR, LF and NUL (callers control it). No id line without an id.
std::string encode_event(std::string_view type, std::optional<std::uint64_t> id,
                         std::string_view data);

// A comment line, ignored by clients; used for keep-alives.
std::string encode_comment(std::string_view text);

std::string encode_retry(std::uint64_t millis);

}  // namespace ssehub::sse
