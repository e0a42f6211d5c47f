#include "sse/fanout.hpp"

#include "sse/event_frames.hpp"

namespace ssehub::sse {

std::size_t Fanout::on_commit(std::vector<history::StoredEventPtr> events) {
  std::vector<core::EventPtr> frames;
  frames.reserve(events.size());
  for (const history::StoredEventPtr& event : events) frames.push_back(frame_live(*event));
  return hub_.publish(std::move(frames));
}

}  // namespace ssehub::sse
