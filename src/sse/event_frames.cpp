#include "sse/event_frames.hpp"

#include "sse/encoder.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::sse {

namespace {

const char* reason_name(history::ResetReason reason) {
  switch (reason) {
    case history::ResetReason::UnknownId: return "unknown_id";
    case history::ResetReason::HistoryTrimmed: return "history_trimmed";
  }
  return "unknown_id";
}

core::EventPtr frame(const history::StoredEvent& event, core::SteadyClock::time_point accepted_at) {
  return std::make_shared<const core::Event>(
      core::Event{.stream = event.stream,
                  .id = event.id,
                  .frame = encode_event(event.type, event.id, event.data),
                  .accepted_at = accepted_at});
}

}  // namespace

core::EventPtr frame_live(const history::StoredEvent& event) {
  return frame(event, event.accepted_at);
}

core::EventPtr frame_replayed(const history::StoredEvent& event) {
  return frame(event, {});
}

core::EventPtr frame_reset(const std::string& stream, const history::Reset& reset) {
  const nlohmann::json data = {{"reason", reason_name(reset.reason)},
                               {"lastEventId", std::to_string(reset.requested_id)},
                               {"continuesAfter", std::to_string(reset.continues_after)}};
  return std::make_shared<const core::Event>(
      core::Event{.stream = stream,
                  .id = reset.continues_after,
                  .frame = encode_event("reset", reset.continues_after, data.dump()),
                  .accepted_at = {}});
}

std::size_t frame_size(const history::StoredEvent& event) {
  return encoded_event_size(event.type, event.id, event.data);
}

}  // namespace ssehub::sse
