#include "history/memory_log.hpp"

#include "history/replay_plan.hpp"
#include "sse/encoder.hpp"

#include <algorithm>

namespace ssehub::history {

namespace {

// Bookkeeping beyond the payload: allocator and container overhead, roughly.
constexpr std::size_t kEventOverhead = sizeof(core::Event) + 48;
constexpr std::size_t kStreamOverhead = 128;

std::size_t bytes_of(const core::Event& event) { return kEventOverhead + event.frame.size(); }

}  // namespace

MemoryLog::MemoryLog(const HistoryOptions& options) : options_(options) {}

std::int64_t MemoryLog::now_ms() const { return core::unix_millis(options_.wall_clock()); }

MemoryLog::Appended MemoryLog::append(std::vector<core::EventDraft>& drafts) {
  Appended appended;
  appended.ids.reserve(drafts.size());
  appended.committed.reserve(drafts.size());
  const std::int64_t now = now_ms();
  for (core::EventDraft& draft : drafts) {
    auto [it, created] = streams_.try_emplace(draft.stream);
    if (created) bytes_ += kStreamOverhead + draft.stream.size();
    Stream& stream = it->second;
    // A re-delivery: a bus draft at or below the stream's last id, or a key seen before.
    std::optional<std::uint64_t> earlier;
    if (draft.id != 0 && draft.id <= stream.last_id) {
      earlier = draft.id;
    } else if (!draft.dedupe_key.empty()) {
      if (auto key = ids_by_key_.find(draft.dedupe_key); key != ids_by_key_.end())
        earlier = key->second;
    }
    if (earlier) {
      appended.ids.push_back(*earlier);
      ++appended.already_stored;
      continue;
    }

    const std::uint64_t id = draft.id != 0 ? draft.id : stream.last_id + 1;
    stream.last_id = id;
    auto event = std::make_shared<core::Event>();
    event->id = id;
    event->frame = sse::encode_event(draft.type, id, draft.data);
    event->stream = std::move(draft.stream);
    event->accepted_at = draft.accepted_at;
    bytes_ += bytes_of(*event) + sizeof(Entry) + draft.dedupe_key.size();
    if (!draft.dedupe_key.empty()) ids_by_key_.emplace(draft.dedupe_key, id);
    entries_.push_back({&stream, id, now, std::move(draft.dedupe_key)});
    stream.events.push_back(event);
    if (stream.events.size() > options_.max_events_per_stream) {
      bytes_ -= bytes_of(*stream.events.front());
      stream.trimmed_through = std::max(stream.trimmed_through, stream.events.front()->id);
      stream.events.pop_front();
    }
    appended.ids.push_back(id);
    appended.committed.push_back(std::move(event));
  }
  while (bytes_ > options_.memory_budget_bytes && !entries_.empty()) drop_oldest_entry();
  return appended;
}

void MemoryLog::drop_oldest_entry() {
  Entry& entry = entries_.front();
  Stream& stream = *entry.stream;
  // Entries and a stream's events are both in publish order, so the entry's event is the
  // stream's oldest, unless the count limit dropped it already.
  if (!stream.events.empty() && stream.events.front()->id == entry.id) {
    bytes_ -= bytes_of(*stream.events.front());
    stream.trimmed_through = std::max(stream.trimmed_through, entry.id);
    stream.events.pop_front();
  }
  if (!entry.dedupe_key.empty()) ids_by_key_.erase(entry.dedupe_key);
  bytes_ -= sizeof(Entry) + entry.dedupe_key.size();
  entries_.pop_front();
}

void MemoryLog::trim_by_age() {
  const std::int64_t cutoff =
      now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_age).count();
  while (!entries_.empty() && entries_.front().created_ms < cutoff) drop_oldest_entry();
}

std::shared_ptr<Replay> MemoryLog::read(const std::string& stream_name, core::ResumePoint from,
                                        std::size_t max_bytes) const {
  auto replay = std::make_shared<Replay>();
  const auto it = streams_.find(stream_name);
  StreamExtent extent;
  if (it != streams_.end()) extent = {it->second.last_id, it->second.trimmed_through};
  const auto read_after = plan_replay(*replay, stream_name, extent, from, options_);
  if (!read_after || it == streams_.end()) return replay;
  const auto& events = it->second.events;
  const auto newer = [](std::uint64_t id, const core::EventPtr& event) { return id < event->id; };
  auto first = std::upper_bound(events.begin(), events.end(), *read_after, newer);
  std::size_t bytes = 0;
  for (; first != events.end(); ++first) {
    if (bytes >= max_bytes && !replay->events.empty()) {
      replay->more = true;
      break;
    }
    bytes += (*first)->frame.size();
    replay->events.push_back(*first);
  }
  if (!replay->events.empty()) replay->last_id = replay->events.back()->id;
  return replay;
}

void MemoryLog::detach_from_live(Replay& replay) {
  for (core::EventPtr& event : replay.events) {
    if (event->accepted_at == core::SteadyClock::time_point{}) continue;  // a reset, made for this replay
    auto copy = std::make_shared<core::Event>(*event);
    copy->accepted_at = {};
    event = std::move(copy);
  }
}

}  // namespace ssehub::history
