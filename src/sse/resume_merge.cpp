#include "sse/resume_merge.hpp"

#include <algorithm>

namespace ssehub::sse {

ResumeMerge::Live ResumeMerge::on_live(core::EventPtr event) {
  // Before the first page, where the stream continues is not known yet: a `reset` may move it
  // below the client's id.
  if (paged_ && event->id != 0 && event->id <= last_id_) return Live::Duplicate;
  if (!held_.empty() && event->id != 0 && event->id <= held_.back()->id) return Live::Duplicate;
  if (held_bytes_ + event->frame.size() > held_limit_) {
    held_.clear();
    held_bytes_ = 0;
    dropped_since_request_ = true;
    return Live::Dropped;
  }
  held_bytes_ += event->frame.size();
  held_.push_back(std::move(event));
  return Live::Held;
}

ResumeMerge::Step ResumeMerge::on_page(ReplayPage& page) {
  Step step;
  // A `reset` (first in its page) says where the stream continues, which may be below the
  // client's id (an id this history never issued); the page reads after it.
  if (page.reset) last_id_ = page.events.front()->id;
  for (core::EventPtr& event : page.events) {
    if (page.reset && &event == &page.events.front()) {
      step.send.push_back(std::move(event));
    } else if (event->id > last_id_) {
      last_id_ = event->id;
      step.send.push_back(std::move(event));
    }
  }
  last_id_ = std::max(last_id_, page.last_id);
  paged_ = true;
  if (page.more || dropped_since_request_) {
    dropped_since_request_ = false;
    step.next_page = core::ResumePoint{.earliest = false, .after_id = last_id_};
    return step;
  }
  done_ = true;
  for (core::EventPtr& event : held_) {
    if (event->id == 0 || event->id > last_id_) {
      if (event->id != 0) last_id_ = event->id;
      step.send.push_back(std::move(event));
    }
  }
  held_.clear();
  held_bytes_ = 0;
  return step;
}

}  // namespace ssehub::sse
