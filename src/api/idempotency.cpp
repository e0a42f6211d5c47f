#include "api/idempotency.hpp"

#include "bus/event_bus.hpp"

#include <algorithm>

namespace ssehub::api {

std::optional<Refusal> check_idempotency_key(std::string_view key) {
  const bool visible = std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
  if (!key.empty() && key.size() <= kMaxIdempotencyKeyBytes && visible) return std::nullopt;
  return Refusal{http::beast_http::status::bad_request, "invalid_idempotency_key",
                 "an Idempotency-Key is 1 to " + std::to_string(kMaxIdempotencyKeyBytes) +
                     " visible ASCII characters (no spaces or control characters)"};
}

std::string dedupe_key_for(std::string_view stream, std::string_view idempotency_key) {
  // Length-prefixed: no stream name and key pair reads as another.
  std::string key(bus::kIdempotencyKeyPrefix);
  key += std::to_string(stream.size()) + ":";
  key.append(stream);
  key += ':';
  key.append(idempotency_key);
  return key;
}

}  // namespace ssehub::api
