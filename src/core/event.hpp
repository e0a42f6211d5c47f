#pragma once

#include "core/clock.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ssehub::core {

// The stream of one user in one API version ("v2", "v3", "v4"): the unit of ids, history
// and fan-out. Versions are separate namespaces, as they were separate apps before.
inline std::string stream_key(std::string_view api, std::string_view user) {
  std::string key;
  key.reserve(api.size() + 1 + user.size());
  key.append(api).append(":").append(user);
  return key;
}

// One event as it travels to every stream of its user. `frame` is the encoded SSE bytes,
// shared by every recipient: fan-out copies the pointer, never the payload.
struct Event {
  std::string stream;
  std::uint64_t id = 0;  // increases per stream; 0 for comments and keep-alives
  std::string frame;
  SteadyClock::time_point accepted_at{};
};
using EventPtr = std::shared_ptr<const Event>;

// What a publisher hands over: the event before it has an id.
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

// How far a log of events (a partition of the cluster bus) has been applied: stored with the
// events it brought, so a restart continues from there.
struct LogPosition {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;
};

// Where a resuming client wants to continue.
struct ResumePoint {
  bool earliest = false;  // everything history retains
  std::uint64_t after_id = 0;
};

// What became of an event handed over for storage and delivery.
enum class Admission {
  Queued,       // taken; the answer follows
  QueueFull,    // too much is waiting already
  Stopped,      // shutting down
  Unavailable,  // the way to storage is down (the cluster bus)
};

}  // namespace ssehub::core
