#include "sse/fanout.hpp"

#include "sse/event_frames.hpp"

namespace ssehub::sse {

Fanout::FannedOut Fanout::on_commit(std::vector<history::StoredEventPtr> events) {
  std::vector<core::EventPtr> frames;
  frames.reserve(events.size());
  for (const history::StoredEventPtr& event : events) frames.push_back(frame_live(*event));
  const auto published = hub_.publish(std::move(frames));
  return {.deliveries = published.deliveries, .lagging = published.lagging_threads};
}

void Fanout::after_delivered(std::uint64_t lagging, boost::asio::any_io_executor then_on,
                             std::function<void()> then) {
  hub_.after_delivered(lagging, std::move(then_on), std::move(then));
}

}  // namespace ssehub::sse
