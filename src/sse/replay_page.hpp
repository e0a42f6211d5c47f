#pragma once

#include "core/event.hpp"
#include "history/history.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ssehub::sse {

// One page of a replay as a stream sends it (see history::Replay), framed.
struct ReplayPage {
  std::vector<core::EventPtr> events;  // in id order; starts with a `reset` event when `reset`
  bool reset = false;
  std::uint64_t last_id = 0;  // the stream continues after this id
  bool more = false;          // history held more events after last_id when this page was read
};

ReplayPage frame_replay(const std::string& stream, const history::Replay& replay);

// Asks `history` for a page of about `max_bytes` of frames after `from`, and runs `done` with
// it, framed, on `executor` (null on a read failure). The framing runs on history's reader
// thread, off the I/O threads. False when history takes no more requests.
using PageDone = std::function<void(std::shared_ptr<ReplayPage>)>;
bool read_replay_page(history::History& history, std::string stream, core::ResumePoint from,
                      boost::asio::any_io_executor executor, PageDone done, std::size_t max_bytes);

}  // namespace ssehub::sse
