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
  // The same, as if the appends numbered after `last_append` had not happened yet: their
  // events are left out, and the stream's last id is the one before them.
  Page read_appended_through(const std::string& stream, std::uint64_t after_id, PageLimit limit,
                             std::uint64_t last_append);
  void retain() override;
  void probe() override {}
  std::vector<core::LogPosition> positions() override;

  // What the kept events, their bookkeeping and the streams' ids take, approximately.
  std::size_t bytes() const { return bytes_; }

  // For a durable log kept in this one (history/segment/): append as of a given time (the
  // time the events were first stored, when a journal is read back), list what is kept so
  // that it can be written out, and restore it.
  // `append_number` is stamped on the stored events (StoredEvent::append_number).
  Appended append_at(std::span<core::EventDraft> drafts,
                     std::span<const core::LogPosition> positions, std::int64_t now_ms,
                     std::uint64_t append_number = 0);

  // A snapshot is listed a few entries at a time while appends go on, so that the caller can
  // let go of its lock between two pieces (compaction copies hundreds of thousands of
  // entries). It lists the state when it began (its boundary): nothing appended after it,
  // each stream's last id as it was then, and the positions as they were then. Entries
  // dropped in the meantime are not listed, and the streams' trimmed-through ids as they are
  // when listed cover the gaps this leaves. Entries are named by a sequence number that
  // counts every entry ever kept, so it stays valid as entries are dropped from the front.
  struct SnapshotBoundary {
    std::uint64_t entries_end = 0;  // sequence number one past the newest entry
    std::size_t streams = 0;        // streams known, in the order they were first seen
    std::vector<core::LogPosition> positions;
  };
  SnapshotBoundary begin_snapshot();
  // One per entry, oldest first: `event` is null when the count limit dropped the event but
  // its dedupe key is still kept.
  struct KeptEntry {
    const std::string& stream;
    std::uint64_t id;
    std::int64_t created_ms;
    const std::string& dedupe_key;
    const StoredEventPtr* event;
  };
  // Lists up to `max` entries of the boundary from sequence number `from` on; returns where
  // the next piece starts (at or past the boundary's entries_end once all are listed).
  std::uint64_t list_entries(const SnapshotBoundary& boundary, std::uint64_t from, std::size_t max,
                             const std::function<void(const KeptEntry&)>& visit) const;
  // Lists up to `max` of the boundary's streams from the `from`th on, each with its extent
  // (see above); returns where the next piece starts.
  std::size_t list_streams(const SnapshotBoundary& boundary, std::size_t from, std::size_t max,
                           const std::function<void(const std::string&, StreamExtent)>& visit) const;

  // Restoring (a journal or snapshot read back). Each event was accepted when it was first
  // stored, so it is kept whatever the dedupe keys say: a key met again belongs to an entry
  // the log had dropped before this event came, even if the log read back has not (age
  // retention is not replayed).
  void restore_events(std::span<core::EventDraft> drafts, std::int64_t created_ms);
  // A dedupe key whose event is gone, in entry order (after the entries before it).
  void restore_key(const std::string& stream, std::uint64_t id, std::int64_t created_ms,
                   std::string dedupe_key);
  // Raises a stream's extent to at least `extent` (its ids never start over), and lets go of
  // the events it says were trimmed (their entries stay, as the count limit leaves them).
  void restore_extent(const std::string& stream, StreamExtent extent);
  // Forgets everything (a durable log reads its journal again).
  void clear();

 private:
  struct Stream {
    const std::string* name = nullptr;  // the key of its node in streams_
    std::uint64_t last_id = 0;
    std::uint64_t trimmed_through = 0;
    // Its last id when the snapshot numbered snapshot_epoch began (set by its first append
    // after that).
    std::uint64_t snapshot_epoch = 0;
    std::uint64_t last_id_at_snapshot = 0;
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
  // The entry a dedupe key belongs to.
  struct KeyOwner {
    const Stream* stream;
    std::uint64_t id;
  };

  std::optional<std::uint64_t> stored_id(const Stream& stream, const core::EventDraft& draft) const;
  StoredEventPtr keep(Stream& stream, core::EventDraft& draft, std::int64_t now,
                      std::uint64_t append_number = 0);
  Stream& stream_of(const std::string& name);
  void drop_oldest_entry();
  void keep_within_budget();
  const StoredEventPtr* event_of(const Entry& entry) const;

  MemoryEventLogOptions options_;
  EventLogMetrics metrics_;
  // A stream is kept after its events are gone, so its ids never start over while the
  // process lives.
  std::unordered_map<std::string, Stream> streams_;
  std::vector<Stream*> streams_in_order_;  // as first seen: a snapshot lists them by index
  std::deque<Entry> entries_;
  std::uint64_t entries_dropped_ = 0;  // the front entry's sequence number
  std::uint64_t snapshot_epoch_ = 0;
  std::unordered_map<std::string, KeyOwner> ids_by_key_;
  std::map<std::int32_t, std::int64_t> positions_;
  std::size_t bytes_ = 0;
};

}  // namespace ssehub::history
