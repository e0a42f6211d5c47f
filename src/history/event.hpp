#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ssehub {

using SteadyClock = std::chrono::steady_clock;

// The stream of one user in one API version ("v2", "v3", "v4"): the unit of ids, history
// and fan-out. Versions are separate namespaces, as they were separate apps before.
inline std::string stream_key(std::string_view api, std::string_view user) {
  std::string key;
  key.reserve(api.size() + 1 + user.size());
  key.append(api).append(":").append(user);
  return key;
}

// One event as it travels from history to every stream of its user. `frame` is the encoded
// SSE bytes, shared by every recipient: fan-out copies the pointer, never the payload.
struct Event {
  std::string stream;
  std::uint64_t id = 0;  // increases per stream; 0 for comments and keep-alives
  std::string frame;
  SteadyClock::time_point accepted_at{};
};
using EventPtr = std::shared_ptr<const Event>;

// What a publisher hands to history: the event before it has an id.
struct EventDraft {
  std::string stream;
  std::string type;  // empty = the default "message" event
  std::string data;
  SteadyClock::time_point accepted_at = SteadyClock::now();
  // Set by a cluster bus, which numbers events itself; 0 = history assigns the next id.
  std::uint64_t id = 0;
  // Non-empty: the event is stored at most once per key (a republished report change is
  // recognised and answered with the id it got the first time).
  std::string dedupe_key;
};

// How far a cluster bus has applied one partition of its log into this node's history.
struct BusPosition {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;
};

}  // namespace ssehub
