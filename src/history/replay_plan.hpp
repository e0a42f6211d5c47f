#pragma once

#include "history/history.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ssehub::history {

// What a stream holds, as far as a resume needs to know.
struct StreamExtent {
  std::uint64_t last_id = 0;          // the newest id the stream issued
  std::uint64_t trimmed_through = 0;  // the highest id retention dropped
};

// Decides what a client resuming from `from` gets, the same way whichever backend keeps the
// events. Adds a `reset` event to `replay` when history cannot serve the resume. Returns the id
// after which the backend reads events into `replay`, or nothing when the live stream will
// bring what follows (cluster mode, an id this node has not applied yet); `replay.last_id` is
// then set.
std::optional<std::uint64_t> plan_replay(Replay& replay, const std::string& stream,
                                         StreamExtent extent, core::ResumePoint from,
                                         const HistoryOptions& options);

}  // namespace ssehub::history
