#include "sse/fanout.hpp"

#include "sse/event_frames.hpp"

namespace ssehub::sse {

void Fanout::on_commit(std::vector<history::StoredEventPtr> events) {
  std::vector<core::EventPtr> frames;
  frames.reserve(events.size());
  for (const history::StoredEventPtr& event : events) frames.push_back(frame_live(*event));
  hub_.publish(std::move(frames));
}

}  // namespace ssehub::sse
