#pragma once

#include "core/clock.hpp"
#include "core/event.hpp"
#include "metrics/metrics.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ssehub::history {

// An event as history keeps it: what was published, with the id it got. sse/ frames it.
struct StoredEvent {
  std::string stream;
  std::uint64_t id = 0;
  std::string type;  // empty = the default "message" event
  std::string data;
  // When it was accepted, for the accept-to-write latency of live events; empty where the
  // log does not keep it (an event read back from disk).
  core::SteadyClock::time_point accepted_at{};
  // The append that stored it, counted by a log that shows an append to readers only once it
  // is durable (the segment log with --history-sync full); zero where the log does not count.
  std::uint64_t append_number = 0;
};
using StoredEventPtr = std::shared_ptr<const StoredEvent>;

// What a stream holds, as far as a resume needs to know.
struct StreamExtent {
  std::uint64_t last_id = 0;          // the newest id the stream issued
  std::uint64_t trimmed_through = 0;  // the highest id retention dropped
};

// The type and data of an event: what a page measures unless told otherwise.
std::size_t payload_size(const StoredEvent& event);

// How much one page of a read holds: events are added until their sizes reach `max_bytes`,
// and a page holds at least one event, so a replay always advances. `size_of` measures an
// event the way the reader will send it (sse/ passes the size of its frame).
struct PageLimit {
  std::size_t max_bytes = SIZE_MAX;
  std::size_t (*size_of)(const StoredEvent&) = &payload_size;
};

// The events of a stream after an id, read in one snapshot with the stream's extent.
struct Page {
  StreamExtent extent;
  std::vector<StoredEventPtr> events;  // in id order
  bool more = false;                   // the stream held more events after the last one
};

// What bounds a log, besides what each implementation adds (the memory log's byte budget).
struct Retention {
  std::size_t max_events_per_stream = 1000;  // the oldest go first, at every append
  std::chrono::seconds max_age{24 * 3600};   // dropped by retain()
  // Stamps events and decides their age. Replaced only by tests that age events without
  // waiting (and without racing a trim that runs on a thread of its own).
  core::WallClock wall_clock = std::chrono::system_clock::now;

  std::int64_t now_ms() const { return core::unix_millis(wall_clock()); }
  // Events stored before this time (ms since the epoch) are past the age limit.
  std::int64_t age_cutoff_ms() const {
    return now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(max_age).count();
  }
};

// What became of the drafts of one append.
struct Appended {
  std::vector<std::uint64_t> ids;  // one per draft: its new id, or the one it got before
  // The drafts recognised as re-deliveries, by index in ascending order: not stored again.
  std::vector<std::size_t> stored_before;
  std::vector<StoredEventPtr> committed;  // the other drafts as now stored, in draft order
  // Set by History when it hands `committed` to fan-out (CommitListener::FannedOut).
  std::size_t deliveries = 0;
  std::uint64_t lagging = 0;
};

// What event logs report. Both gauges are exposed whichever log runs, so that one dashboard
// fits every node; each log sets the one that applies to it.
struct EventLogMetrics {
  explicit EventLogMetrics(metrics::Registry& registry);
  metrics::Gauge& wal_frames_behind;  // SQLite: WAL frames the last checkpoint could not copy
  metrics::Gauge& memory_bytes;       // memory: what the kept events take
};

// The per-stream event log behind History: it numbers events (or keeps the ids a cluster bus
// gave them), recognises re-deliveries (by id, and by dedupe key), reads pages after an id,
// enforces retention, and stores the positions of the log its events came from (the cluster
// bus's partitions) with them, so a restart continues where the last one stopped. A log does
// not lock: History calls it from the threads that threading() asks for.
//
// Another log fits behind this interface when it can append a batch all or nothing, read
// after an id in one snapshot, and drop its oldest events; an append-only segment log per
// I/O thread would add a Threading mode of its own (numbered on the publishing thread, made
// durable in groups by a flusher).
class EventLog {
 public:
  enum class Threading {
    // Every call is quick (memory): History makes them on the caller's thread, one at a time
    // under one lock, and hands committed events to fan-out before the next append, so a
    // publish is numbered and delivered without a hop and streams get events in id order.
    CallerThread,
    // Appends and reads wait for a disk (SQLite): History queues appends for a writer thread
    // that passes everything queued to one append (group commit), reads on a reader thread,
    // and calls maintain() on a third. Each call of a kind comes from its one thread.
    OwnThreads,
  };

  virtual ~EventLog() = default;
  virtual Threading threading() const = 0;

  // Numbers and stores the drafts together with `positions`, all or none. A draft carrying
  // an id keeps it, and one not above its stream's last id is a re-delivery, as is one whose
  // dedupe key was stored before (in this batch too): re-deliveries are answered with the
  // id they got, not stored again. May move the drafts' contents. Throws on failure, with
  // nothing stored.
  virtual Appended append(std::span<core::EventDraft> drafts,
                          std::span<const core::LogPosition> positions) = 0;

  // The events of `stream` after `after_id` (a page of at most `limit`), and its extent.
  virtual Page read(const std::string& stream, std::uint64_t after_id, PageLimit limit) = 0;

  // Drops the events older than the age limit (and their dedupe keys), remembering per
  // stream the highest id dropped. The count limit (and a byte budget) hold at every append.
  virtual void retain() = 0;

  // A small write, to learn whether the storage takes writes (again); throws when it does
  // not. Called by the appending thread while nothing is appended.
  virtual void probe() = 0;

  // Work kept off the paths that append and read (SQLite copies its WAL back into the
  // database): for an OwnThreads log, every maintenance_period() on a thread of its own;
  // zero: none.
  virtual std::chrono::milliseconds maintenance_period() const { return {}; }
  virtual void maintain() {}

  // A CallerThread log may make its appends durable in groups, on a thread of its own (the
  // segment log's write and fdatasync): then History hands an append's events to fan-out and
  // answers its publishers only once `done` ran for it, and the log's reads leave out what is
  // not durable yet, so no client sees an event that a crash or a power loss could take back.
  // when_synced runs `done(failure)` once everything appended before the call is synced
  // (`failure` empty), or failed to be (`failure` says why: those events are not stored, and
  // the log forgets them before its next append); it is called by whoever appends, in append
  // order, and `done` runs in the same order on the log's thread.
  virtual bool syncs_in_groups() const { return false; }
  using SyncDone = std::function<void(const std::string& failure)>;
  virtual void when_synced(SyncDone done) { done({}); }

  // Where each log that fed this one was applied up to: per partition, the highest position
  // stored. Read before History starts.
  virtual std::vector<core::LogPosition> positions() = 0;
};

}  // namespace ssehub::history
