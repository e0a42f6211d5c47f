#pragma once

#include "core/event.hpp"
#include "history/event_log.hpp"
#include "history/replay_plan.hpp"

#include <cstddef>
#include <string>

namespace ssehub::sse {

// A committed event as every live stream of its user gets it: one frame, shared by all.
core::EventPtr frame_live(const history::StoredEvent& event);

// A replayed event: without its accept time, so that it does not count in the
// accept-to-write latency of live events (its delay is the client's absence).
core::EventPtr frame_replayed(const history::StoredEvent& event);

// The `reset` event that starts a replay history cannot serve as asked: its id is where the
// stream continues, its data says why (`reason`, `lastEventId`, `continuesAfter`).
core::EventPtr frame_reset(const std::string& stream, const history::Reset& reset);

// The size of an event's frame, exactly: what a page of a replay measures.
std::size_t frame_size(const history::StoredEvent& event);

}  // namespace ssehub::sse
