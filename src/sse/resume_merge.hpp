#pragma once

#include "core/event.hpp"
#include "sse/replay_page.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ssehub::sse {

// How a resuming stream joins its replay, read from history a page at a time, with the live
// events that arrive meanwhile: every event after the client's id exactly once, in id order,
// while holding at most `held_limit` bytes of live events. Pure: the stream session drives it,
// and the history stress test checks it against a real history under load.
//
// The stream registers for live events before the first page is read, so an event is in a
// page, or arrives live, or both (then the id tells). A page that reaches the end of history
// ends the replay, unless live events were dropped since it was asked for: those are in
// history, so one more page brings them.
class ResumeMerge {
 public:
  ResumeMerge(std::uint64_t after_id, std::size_t held_limit)
      : last_id_(after_id), held_limit_(held_limit) {}

  enum class Live { Held, Dropped, Duplicate };
  // A live event that arrived before the replay caught up: held until then, or, when holding
  // it would pass the limit, dropped together with everything held (the replay reads them).
  Live on_live(core::EventPtr event);

  struct Step {
    std::vector<core::EventPtr> send;            // to the client, in this order
    std::optional<core::ResumePoint> next_page;  // read next; nullopt: the stream is live now
  };
  // A page read with next_page() (or the first one): what to send and what to read next.
  Step on_page(ReplayPage& page);

  // The newest id sent or about to be sent.
  std::uint64_t last_id() const { return last_id_; }
  std::size_t held_bytes() const { return held_bytes_; }
  bool done() const { return done_; }

 private:
  std::uint64_t last_id_;
  std::size_t held_limit_;
  std::vector<core::EventPtr> held_;
  std::size_t held_bytes_ = 0;
  bool dropped_since_request_ = false;
  bool paged_ = false;  // a page has come: last_id_ is where the stream continues
  bool done_ = false;
};

}  // namespace ssehub::sse
