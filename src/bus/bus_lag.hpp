#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace ssehub::bus {

// How far a node is behind the cluster bus: the age of the oldest record the cluster is known
// to hold that this node has not applied yet. Ages count from when an end was first seen, so
// the figure is as fine as the calls are frequent. Not thread-safe: one thread updates it.
class BusLag {
 public:
  using Clock = std::chrono::steady_clock;

  // Per partition, `ends` is the next offset the cluster holds (as last seen) and `applied`
  // the next offset this node has applied (negative: none yet). Returns the lag at `now`.
  std::chrono::milliseconds update(Clock::time_point now, std::span<const std::int64_t> ends,
                                   std::span<const std::int64_t> applied);

 private:
  struct SeenEnd {
    Clock::time_point at;
    std::int64_t end;
  };
  // Bounds memory while a node applies nothing: a later end is recorded once older ones go.
  static constexpr std::size_t kMaxSeen = 1024;
  std::vector<std::deque<SeenEnd>> seen_;
};

}  // namespace ssehub::bus
