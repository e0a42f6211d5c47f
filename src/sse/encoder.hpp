#pragma once

#include <cstddef>
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

// The size of encode_event(type, id, data) for the longest id (20 digits): what a client
// must buffer to parse the event, whatever id it gets.
std::size_t encoded_event_size(std::string_view type, std::string_view data);
// The size of encode_event(type, id, data), exactly.
std::size_t encoded_event_size(std::string_view type, std::optional<std::uint64_t> id,
                               std::string_view data);

// A comment line, ignored by clients. Without a blank line after it: a block holding only
// a comment (or only a retry hint) ends in a blank line that several client libraries hand
// to the application as an empty message, so these lines ride in the next event's block.
std::string encode_comment_line(std::string_view text);

// The reconnection delay hint, as a line of the next event's block (see encode_comment_line).
std::string encode_retry(std::uint64_t millis);

}  // namespace ssehub::sse
