#pragma once

#include "core/event.hpp"
#include "history/event_log.hpp"

#include <cstdint>
#include <optional>

namespace ssehub::history {

// Why a resume cannot be served as asked.
enum class ResetReason {
  UnknownId,       // an id the stream never issued (history wiped, or another deployment)
  HistoryTrimmed,  // retention dropped events the client has not seen
};

// What a resuming client is told before its events: why, the id it asked for, and the id
// after which its stream continues (sse/ frames it as a `reset` event).
struct Reset {
  ResetReason reason = ResetReason::UnknownId;
  std::uint64_t requested_id = 0;
  std::uint64_t continues_after = 0;
};

// What a client resuming from `from` gets.
struct ReplayPlan {
  std::optional<Reset> reset;    // told first, when history cannot serve the resume as asked
  std::uint64_t read_after = 0;  // events after this id follow; the stream continues after it
  bool live_only = false;        // nothing to read: the live stream brings what follows
};

// Whether `from` names an id beyond what the stream has issued here.
bool past_end(StreamExtent extent, core::ResumePoint from);

// Decides what a client resuming from `from` gets, the same way whichever log keeps the
// events. `awaited`: an id past the end may still arrive here (an IdAuthority may have
// issued it), so the stream waits for it live instead of being reset.
ReplayPlan plan_replay(StreamExtent extent, core::ResumePoint from, bool awaited);

}  // namespace ssehub::history
