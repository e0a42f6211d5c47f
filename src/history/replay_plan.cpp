#include "history/replay_plan.hpp"

namespace ssehub::history {

bool past_end(StreamExtent extent, core::ResumePoint from) {
  return !from.earliest && from.after_id > extent.last_id;
}

ReplayPlan plan_replay(StreamExtent extent, core::ResumePoint from, bool awaited) {
  if (from.earliest) return {};
  if (past_end(extent, from) && awaited) {
    // This node has not applied that far yet; the live stream brings what follows.
    return {.reset = std::nullopt, .read_after = from.after_id, .live_only = true};
  }
  if (past_end(extent, from)) {
    // An id this stream never issued: say so, and continue from what the stream really has.
    return {.reset = Reset{ResetReason::UnknownId, from.after_id, extent.last_id},
            .read_after = extent.last_id};
  }
  if (from.after_id < extent.trimmed_through) {
    return {.reset = Reset{ResetReason::HistoryTrimmed, from.after_id, extent.trimmed_through},
            .read_after = extent.trimmed_through};
  }
  return {.read_after = from.after_id};
}

}  // namespace ssehub::history
