#pragma once

#include "history/history.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ssehub::history {

// The history of `--history-store memory`: the same ids, resume and retention as the SQLite
// history, kept in memory only, so a publish costs no disk write and no hop to a writer
// thread; everything is lost when the process ends. This is what Nchan's and Centrifugo's
// default memory engines keep. Retention is by count per stream, by age, and by a byte budget
// over all streams (oldest events go first). Not thread-safe: History serialises every call.
class MemoryLog {
 public:
  explicit MemoryLog(const HistoryOptions& options);

  struct Appended {
    std::vector<std::uint64_t> ids;   // one per draft
    std::size_t already_stored = 0;   // re-deliveries among the drafts, not kept again
    std::vector<core::EventPtr> committed;  // the new events, in draft order
  };
  // Numbers and keeps the drafts (their contents are moved out), then drops the oldest events
  // while over the byte budget.
  Appended append(std::vector<core::EventDraft>& drafts);

  // What a client resuming from `from` missed (see plan_replay): the kept events themselves,
  // shared, so reading costs no copy while History holds its lock.
  // At most a page of about `max_bytes` (see Replay).
  std::shared_ptr<Replay> read(const std::string& stream, core::ResumePoint from,
                               std::size_t max_bytes = SIZE_MAX) const;

  // Replaces each replayed event with a copy without its accept time: like the SQLite
  // history's replays, a replayed event does not count in the accept-to-write latency of live
  // events. Runs outside History's lock.
  static void detach_from_live(Replay& replay);

  // Drops events older than the age limit.
  void trim_by_age();

  // What the kept events, their bookkeeping and the streams' ids take, approximately.
  std::size_t bytes() const { return bytes_; }

 private:
  struct Stream {
    std::uint64_t last_id = 0;
    std::uint64_t trimmed_through = 0;
    std::deque<core::EventPtr> events;  // in id order
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

  void drop_oldest_entry();
  std::int64_t now_ms() const;

  const HistoryOptions& options_;
  // A stream is kept after its events are gone, so its ids never start over while the
  // process lives.
  std::unordered_map<std::string, Stream> streams_;
  std::deque<Entry> entries_;
  std::unordered_map<std::string, std::uint64_t> ids_by_key_;
  std::size_t bytes_ = 0;
};

}  // namespace ssehub::history
