#include "bus/bus_lag.hpp"

#include <algorithm>

namespace ssehub::bus {

std::chrono::milliseconds BusLag::update(Clock::time_point now, std::span<const std::int64_t> ends,
                                         std::span<const std::int64_t> applied) {
  const std::size_t partitions = std::min(ends.size(), applied.size());
  if (seen_.size() < partitions) seen_.resize(partitions);
  auto oldest = now;
  for (std::size_t partition = 0; partition < partitions; ++partition) {
    auto& seen = seen_[partition];
    const std::int64_t end = ends[partition];
    if ((seen.empty() || end > seen.back().end) && seen.size() < kMaxSeen) seen.push_back({now, end});
    const std::int64_t done = std::max<std::int64_t>(0, applied[partition]);
    while (!seen.empty() && seen.front().end <= done) seen.pop_front();
    if (!seen.empty()) oldest = std::min(oldest, seen.front().at);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - oldest);
}

}  // namespace ssehub::bus
