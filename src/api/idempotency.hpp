#pragma once

#include "api/validation.hpp"

#include <optional>
#include <string>
#include <string_view>

// Idempotency-Key on POST /v2|v3/message(s): a publisher that did not get an answer (or got an
// ambiguous 503) retries with the same key, and the event is stored at most once.
namespace ssehub::api {

inline constexpr std::size_t kMaxIdempotencyKeyBytes = 255;

// 400 invalid_idempotency_key unless `key` is 1 to 255 visible ASCII characters (0x21-0x7E).
std::optional<Refusal> check_idempotency_key(std::string_view key);

// The dedupe key history stores the event under: the key within its stream, so publishers of
// different users (or of v2 and v3) never collide. It travels in the cluster bus's record, so
// every node recognises a retry the same way.
std::string dedupe_key_for(std::string_view stream, std::string_view idempotency_key);

}  // namespace ssehub::api
