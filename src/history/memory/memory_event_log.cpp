#include "history/memory/memory_event_log.hpp"

#include <algorithm>
#include <iterator>

namespace ssehub::history {

namespace {

// Bookkeeping beyond the payload: allocator and container overhead, roughly.
constexpr std::size_t kEventOverhead = sizeof(StoredEvent) + 48;
constexpr std::size_t kStreamOverhead = 128;

std::size_t bytes_of(const StoredEvent& event) {
  return kEventOverhead + payload_size(event);
}

}  // namespace

MemoryEventLog::MemoryEventLog(MemoryEventLogOptions options, metrics::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {}

Appended MemoryEventLog::append(std::span<core::EventDraft> drafts,
                                std::span<const core::LogPosition> positions) {
  return append_at(drafts, positions, options_.retention.now_ms());
}

MemoryEventLog::Stream& MemoryEventLog::stream_of(const std::string& name) {
  auto [it, created] = streams_.try_emplace(name);
  if (created) {
    it->second.name = &it->first;
    streams_in_order_.push_back(&it->second);
    bytes_ += kStreamOverhead + name.size();
  }
  return it->second;
}

Appended MemoryEventLog::append_at(std::span<core::EventDraft> drafts,
                                   std::span<const core::LogPosition> positions,
                                   std::int64_t now, std::uint64_t append_number) {
  Appended appended;
  appended.ids.reserve(drafts.size());
  appended.committed.reserve(drafts.size());
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    core::EventDraft& draft = drafts[i];
    Stream& stream = stream_of(draft.stream);
    if (auto earlier = stored_id(stream, draft)) {
      appended.ids.push_back(*earlier);
      appended.stored_before.push_back(i);
      continue;
    }
    appended.committed.push_back(keep(stream, draft, now, append_number));
    appended.ids.push_back(appended.committed.back()->id);
  }
  for (const core::LogPosition& position : positions) {
    std::int64_t& next = positions_[position.partition];
    next = std::max(next, position.next_offset);
  }
  keep_within_budget();
  return appended;
}

void MemoryEventLog::keep_within_budget() {
  while (bytes_ > options_.budget_bytes && !entries_.empty()) drop_oldest_entry();
  metrics_.memory_bytes.set(static_cast<std::int64_t>(bytes_));
}

// A re-delivery: a bus draft at or below the stream's last id, or a key seen before.
std::optional<std::uint64_t> MemoryEventLog::stored_id(const Stream& stream,
                                                       const core::EventDraft& draft) const {
  if (draft.id != 0 && draft.id <= stream.last_id) return draft.id;
  if (draft.dedupe_key.empty()) return std::nullopt;
  if (auto key = ids_by_key_.find(draft.dedupe_key); key != ids_by_key_.end()) return key->second.id;
  return std::nullopt;
}

// Numbers the draft and keeps it (its contents are moved out), within the count limit.
StoredEventPtr MemoryEventLog::keep(Stream& stream, core::EventDraft& draft, std::int64_t now,
                                    std::uint64_t append_number) {
  const std::uint64_t id = draft.id != 0 ? draft.id : stream.last_id + 1;
  if (stream.snapshot_epoch != snapshot_epoch_) {
    stream.snapshot_epoch = snapshot_epoch_;
    stream.last_id_at_snapshot = stream.last_id;
  }
  stream.last_id = std::max(stream.last_id, id);
  auto event = std::make_shared<StoredEvent>(StoredEvent{.stream = std::move(draft.stream),
                                                         .id = id,
                                                         .type = std::move(draft.type),
                                                         .data = std::move(draft.data),
                                                         .accepted_at = draft.accepted_at,
                                                         .append_number = append_number});
  bytes_ += bytes_of(*event) + sizeof(Entry) + draft.dedupe_key.size();
  if (!draft.dedupe_key.empty()) ids_by_key_.insert_or_assign(draft.dedupe_key, KeyOwner{&stream, id});
  entries_.push_back({&stream, id, now, std::move(draft.dedupe_key)});
  stream.events.push_back(event);
  if (stream.events.size() > options_.retention.max_events_per_stream) {
    bytes_ -= bytes_of(*stream.events.front());
    stream.trimmed_through = std::max(stream.trimmed_through, stream.events.front()->id);
    stream.events.pop_front();
  }
  return event;
}

void MemoryEventLog::drop_oldest_entry() {
  Entry& entry = entries_.front();
  Stream& stream = *entry.stream;
  // Entries and a stream's events are both in publish order, so the entry's event is the
  // stream's oldest, unless the count limit dropped it already.
  if (!stream.events.empty() && stream.events.front()->id == entry.id) {
    bytes_ -= bytes_of(*stream.events.front());
    stream.trimmed_through = std::max(stream.trimmed_through, entry.id);
    stream.events.pop_front();
  }
  if (!entry.dedupe_key.empty()) {
    // Read back, a later event may own the key (see restore_events).
    const auto key = ids_by_key_.find(entry.dedupe_key);
    if (key != ids_by_key_.end() && key->second.stream == &stream && key->second.id == entry.id)
      ids_by_key_.erase(key);
  }
  bytes_ -= sizeof(Entry) + entry.dedupe_key.size();
  entries_.pop_front();
  ++entries_dropped_;
}

void MemoryEventLog::retain() {
  const std::int64_t cutoff = options_.retention.age_cutoff_ms();
  while (!entries_.empty() && entries_.front().created_ms < cutoff) drop_oldest_entry();
  metrics_.memory_bytes.set(static_cast<std::int64_t>(bytes_));
}

Page MemoryEventLog::read(const std::string& stream, std::uint64_t after_id, PageLimit limit) {
  return read_appended_through(stream, after_id, limit, UINT64_MAX);
}

Page MemoryEventLog::read_appended_through(const std::string& stream_name, std::uint64_t after_id,
                                           PageLimit limit, std::uint64_t last_append) {
  Page page;
  const auto it = streams_.find(stream_name);
  if (it == streams_.end()) return page;
  const Stream& stream = it->second;
  // Appends are numbered in order, so the events left out are the newest.
  auto end = stream.events.end();
  if (last_append != UINT64_MAX)
    while (end != stream.events.begin() && (*std::prev(end))->append_number > last_append) --end;
  page.extent = {end == stream.events.end() ? stream.last_id : (*end)->id - 1,
                 stream.trimmed_through};
  const auto newer = [](std::uint64_t id, const StoredEventPtr& event) { return id < event->id; };
  std::size_t bytes = 0;
  for (auto next = std::upper_bound(stream.events.begin(), end, after_id, newer); next != end;
       ++next) {
    if (bytes >= limit.max_bytes && !page.events.empty()) {
      page.more = true;
      break;
    }
    bytes += limit.size_of(**next);
    page.events.push_back(*next);
  }
  return page;
}

MemoryEventLog::SnapshotBoundary MemoryEventLog::begin_snapshot() {
  ++snapshot_epoch_;
  return {.entries_end = entries_dropped_ + entries_.size(),
          .streams = streams_in_order_.size(),
          .positions = positions()};
}

const StoredEventPtr* MemoryEventLog::event_of(const Entry& entry) const {
  const auto& events = entry.stream->events;
  if (events.empty() || entry.id < events.front()->id) return nullptr;
  // Ids are usually consecutive within a stream: a guess by offset, then a search. Each
  // probe reads an event (a cache miss), and compaction lists entries under the lock that
  // publishes take.
  if (const std::uint64_t offset = entry.id - events.front()->id;
      offset < events.size() && events[offset]->id == entry.id)
    return &events[offset];
  const auto older = [](const StoredEventPtr& event, std::uint64_t id) { return event->id < id; };
  const auto found = std::lower_bound(events.begin(), events.end(), entry.id, older);
  return found != events.end() && (*found)->id == entry.id ? &*found : nullptr;
}

std::uint64_t MemoryEventLog::list_entries(const SnapshotBoundary& boundary, std::uint64_t from,
                                           std::size_t max,
                                           const std::function<void(const KeptEntry&)>& visit) const {
  std::uint64_t next = std::max(from, entries_dropped_);
  const std::uint64_t end = std::min(boundary.entries_end, next + max);
  for (; next < end; ++next) {
    const Entry& entry = entries_[next - entries_dropped_];
    visit({*entry.stream->name, entry.id, entry.created_ms, entry.dedupe_key, event_of(entry)});
  }
  return next;
}

std::size_t MemoryEventLog::list_streams(
    const SnapshotBoundary& boundary, std::size_t from, std::size_t max,
    const std::function<void(const std::string&, StreamExtent)>& visit) const {
  const std::size_t end = std::min(boundary.streams, from + max);
  for (std::size_t i = from; i < end; ++i) {
    const Stream& stream = *streams_in_order_[i];
    const std::uint64_t last_id =
        stream.snapshot_epoch == snapshot_epoch_ ? stream.last_id_at_snapshot : stream.last_id;
    // Trimmed since the boundary counts (it covers entries dropped before they were listed);
    // past the boundary's last id it would hide events the journal after it holds.
    visit(*stream.name, {last_id, std::min(stream.trimmed_through, last_id)});
  }
  return end;
}

void MemoryEventLog::restore_events(std::span<core::EventDraft> drafts, std::int64_t created_ms) {
  for (core::EventDraft& draft : drafts) keep(stream_of(draft.stream), draft, created_ms);
  keep_within_budget();
}

void MemoryEventLog::restore_key(const std::string& stream_name, std::uint64_t id,
                                 std::int64_t created_ms, std::string dedupe_key) {
  Stream& stream = stream_of(stream_name);
  stream.last_id = std::max(stream.last_id, id);
  bytes_ += sizeof(Entry) + dedupe_key.size();
  if (!dedupe_key.empty()) ids_by_key_.insert_or_assign(dedupe_key, KeyOwner{&stream, id});
  entries_.push_back({&stream, id, created_ms, std::move(dedupe_key)});
}

void MemoryEventLog::restore_extent(const std::string& stream_name, StreamExtent extent) {
  Stream& stream = stream_of(stream_name);
  stream.last_id = std::max(stream.last_id, extent.last_id);
  stream.trimmed_through = std::max(stream.trimmed_through, extent.trimmed_through);
  while (!stream.events.empty() && stream.events.front()->id <= stream.trimmed_through) {
    bytes_ -= bytes_of(*stream.events.front());
    stream.events.pop_front();
  }
}

void MemoryEventLog::clear() {
  entries_.clear();
  entries_dropped_ = 0;
  streams_in_order_.clear();
  ids_by_key_.clear();
  streams_.clear();
  positions_.clear();
  bytes_ = 0;
  metrics_.memory_bytes.set(0);
}

std::vector<core::LogPosition> MemoryEventLog::positions() {
  std::vector<core::LogPosition> positions;
  for (const auto& [partition, next_offset] : positions_)
    positions.push_back({partition, next_offset});
  return positions;
}

}  // namespace ssehub::history
