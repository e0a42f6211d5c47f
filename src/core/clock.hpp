#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ssehub::core {

using SteadyClock = std::chrono::steady_clock;
// Wall-clock time where it is stored or compared with other machines'; injectable, so that
// tests move it instead of waiting.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

// Milliseconds since the Unix epoch.
inline std::int64_t unix_millis(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}
inline std::int64_t unix_millis_now() { return unix_millis(std::chrono::system_clock::now()); }

}  // namespace ssehub::core
