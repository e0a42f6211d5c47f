#pragma once

#include "history/event_log.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ssehub::history {

struct MemoryEventLogOptions {
  std::size_t budget_bytes = std::size_t{256} << 20;  // all streams together
  Retention retention;
};

// The log of `--history-store memory`: the same ids, resume and retention as the SQLite log,
// kept in memory only, so a publish costs no disk write and no hop to a writer thread;
// everything is lost when the process ends. This is what Nchan's and Centrifugo's default
// memory engines keep. Retention is by count per stream, by age, and by a byte budget over
// all streams (oldest events go first). Reads hand out the kept events themselves, shared,
// so reading costs no copy while History holds its lock.
class MemoryEventLog final : public EventLog {
 public:
  MemoryEventLog(MemoryEventLogOptions options, metrics::Registry& registry);

  Threading threading() const override { return Threading::CallerThread; }
  Appended append(std::span<core::EventDraft> drafts,
                  std::span<const core::LogPosition> positions) override;
  Page read(const std::string& stream, std::uint64_t after_id, PageLimit limit) override;
  void retain() override;
  void probe() override {}
  std::vector<core::LogPosition> positions() override;

  // What the kept events, their bookkeeping and the streams' ids take, approximately.
  std::size_t bytes() const { return bytes_; }

  // For a durable log kept in this one (history/segment/): append as of a given time (the
  // time the events were first stored, when a journal is read back), list what is kept so
  // that it can be written out, and restore it.
  Appended append_at(std::span<core::EventDraft> drafts,
                     std::span<const core::LogPosition> positions, std::int64_t now_ms);
  // One per kept event, oldest first: `event` is null when the count limit dropped the
  // event but its dedupe key is still kept.
  struct KeptEntry {
    const std::string& stream;
    std::uint64_t id;
    std::int64_t created_ms;
    const std::string& dedupe_key;
    const StoredEventPtr* event;
  };
  void for_each_entry(const std::function<void(const KeptEntry&)>& visit) const;
  std::size_t entry_count() const { return entries_.size(); }
  void for_each_stream(const std::function<void(const std::string& stream, StreamExtent)>& visit) const;
  // A dedupe key whose event is gone, in entry order (after the entries before it).
  void restore_key(const std::string& stream, std::uint64_t id, std::int64_t created_ms,
                   std::string dedupe_key);
  // Raises a stream's extent to at least `extent` (its ids never start over).
  void restore_extent(const std::string& stream, StreamExtent extent);
  // Forgets everything (a durable log reads its journal again).
  void clear();

 private:
  struct Stream {
    const std::string* name = nullptr;  // the key of its node in streams_
    std::uint64_t last_id = 0;
    std::uint64_t trimmed_through = 0;
    std::deque<StoredEventPtr> events;  // in id order
  };
  // One per kept event, oldest first, across all streams: age retention and the byte budget
  // both drop from the front. An entry outlives its event when the stream's count limit
  // dropped the event first.
  struct Entry {
    Stream* stream;  // map nodes never move, and streams are never erased
    std::uint64_t id;
    std::int64_t created_ms;
    std::string dedupe_key;
  };

  std::optional<std::uint64_t> stored_id(const Stream& stream, const core::EventDraft& draft) const;
  StoredEventPtr keep(Stream& stream, core::EventDraft& draft, std::int64_t now);
  Stream& stream_of(const std::string& name);
  void drop_oldest_entry();

  MemoryEventLogOptions options_;
  EventLogMetrics metrics_;
  // A stream is kept after its events are gone, so its ids never start over while the
  // process lives.
  std::unordered_map<std::string, Stream> streams_;
  std::deque<Entry> entries_;
  std::unordered_map<std::string, std::uint64_t> ids_by_key_;
  std::map<std::int32_t, std::int64_t> positions_;
  std::size_t bytes_ = 0;
};

}  // namespace ssehub::history
