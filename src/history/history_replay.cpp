// History's replay pages: the replay plan applied to what the log read.
#include "history/history.hpp"

namespace ssehub::history {

bool History::asks_authority(const Page& page, core::ResumePoint from) const {
  return ids_ != nullptr && past_end(page.extent, from);
}

std::shared_ptr<Replay> History::replay_page(const std::string& stream, core::ResumePoint from,
                                             Page page) {
  // Asked outside any lock and snapshot: the authority may ask a broker.
  const bool awaited = asks_authority(page, from) && ids_->may_have_issued(stream, from.after_id);
  const ReplayPlan plan = plan_replay(page.extent, from, awaited);
  auto replay = std::make_shared<Replay>();
  replay->reset = plan.reset;
  replay->last_id = plan.read_after;
  if (plan.live_only) return replay;
  // A reset moves the read past events the log may still hold (they were read after the
  // client's id, in the same snapshot as the extent).
  for (StoredEventPtr& event : page.events)
    if (event->id > plan.read_after) replay->events.push_back(std::move(event));
  if (!replay->events.empty()) replay->last_id = replay->events.back()->id;
  replay->more = page.more;
  return replay;
}

}  // namespace ssehub::history
