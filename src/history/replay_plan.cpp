#include "history/replay_plan.hpp"

#include "sse/encoder.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::history {

namespace {

void add_reset(Replay& replay, const std::string& stream, std::uint64_t continue_after,
               const char* reason, std::uint64_t requested) {
  auto event = std::make_shared<core::Event>();
  event->stream = stream;
  event->id = continue_after;
  const nlohmann::json data = {{"reason", reason},
                               {"lastEventId", std::to_string(requested)},
                               {"continuesAfter", std::to_string(continue_after)}};
  event->frame = sse::encode_event("reset", continue_after, data.dump());
  replay.reset = true;
  replay.events.push_back(std::move(event));
}

}  // namespace

std::optional<std::uint64_t> plan_replay(Replay& replay, const std::string& stream,
                                         StreamExtent extent, core::ResumePoint from,
                                         const HistoryOptions& options) {
  std::uint64_t read_after = from.after_id;
  if (from.earliest) {
    read_after = 0;
  } else if (from.after_id > extent.last_id && options.ids_from_bus &&
             (!options.bus_may_have_issued || options.bus_may_have_issued(stream, from.after_id))) {
    // This node has not applied that far yet; the live stream brings what follows.
    replay.last_id = from.after_id;
    return std::nullopt;
  } else if (from.after_id > extent.last_id) {
    // An id this stream never issued (history wiped, or another deployment): say so, and
    // continue from what the stream really has.
    add_reset(replay, stream, extent.last_id, "unknown_id", from.after_id);
    read_after = extent.last_id;
  } else if (from.after_id < extent.trimmed_through) {
    add_reset(replay, stream, extent.trimmed_through, "history_trimmed", from.after_id);
    read_after = extent.trimmed_through;
  }
  replay.last_id = read_after;
  return read_after;
}

}  // namespace ssehub::history
