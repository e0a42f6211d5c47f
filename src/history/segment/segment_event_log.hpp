#pragma once

#include "history/event_log.hpp"
#include "history/memory/memory_event_log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ssehub::history {

struct SegmentEventLogOptions {
  std::string dir;  // holds the journal segments and the snapshot; created when missing
  std::size_t budget_bytes = std::size_t{256} << 20;  // what the kept events may take in memory
  Retention retention;
  // How often a thread of its own fdatasyncs the journal: what a power loss can cost at most
  // (beyond what the kernel wrote back by itself). Zero: never (tests).
  std::chrono::milliseconds flush_interval{1000};
  // Compaction starts once the journal written since the last snapshot passes this and the
  // snapshot's size, so the files stay within a few times what is kept.
  std::size_t compact_min_bytes = std::size_t{64} << 20;
  // Compaction copies the kept entries this many at a time, letting appends in between: a
  // publish waits for one piece at most (a fraction of a millisecond), not for the whole copy.
  std::size_t compaction_piece = 128;
  // Tests: called on the background thread between two pieces of compaction's copy.
  std::function<void()> between_compaction_pieces;
  // --history-sync full: publishes are delivered and answered only once an fdatasync covers
  // them. The appending side only encodes its records; one thread writes every record
  // waiting, with one write() per segment, and syncs them (a group sync), off the I/O
  // threads. Writing there too keeps the I/O threads' writes out of the pages the fdatasync
  // is writing back, and makes one write of many (see docs/BENCHMARKS.md).
  bool sync_before_answer = false;
  // With sync_before_answer: after a group of at least this many commits (more than a client
  // with a few connections keeps in flight), the sync thread lets appends gather before it
  // takes the next group, so that more publishes share one fdatasync: until half as many
  // commits as that group's are waiting, or for as long as its write and fdatasync took (up
  // to max_gathering), whichever comes first. Under load the disk's wait is then spent
  // collecting a group, not syncing a small one, and the wait ends as soon as the group is
  // worth a sync rather than at a fixed time (see docs/BENCHMARKS.md). Zero: never waits.
  std::size_t gather_after_commits = 5;
  std::chrono::microseconds max_gathering{1000};
  // With sync_before_answer: what the syncer may have left to write before appends are
  // refused. A disk this far behind is failing or overloaded, and memory must not fill with
  // records meanwhile.
  std::size_t max_unwritten_bytes = std::size_t{64} << 20;
  // Appends go into segments of this size made of zeros ahead of time (and synced) by the
  // background thread, so that an append overwrites blocks the file already has: neither its
  // length nor its block map changes, and an fdatasync writes the data only, without a commit
  // of the filesystem's own journal (about 40 % less time per fdatasync on ext4 here). Zero:
  // appends only extend the journal. Unset: 16 MiB with sync_before_answer, where a group
  // sync per answer repays it, and zero without: there the zeros' writes and their sync (tens
  // of ms of disk and CPU every few seconds of publishing) only disturbed the publishers, and
  // the periodic fdatasync gains nothing from them (see docs/BENCHMARKS.md).
  std::optional<std::size_t> segment_bytes;
  // The first zeroed segment is prepared once this much was appended since opening, so a
  // server that publishes little never writes a segment of zeros.
  std::size_t first_segment_after_bytes = std::size_t{1} << 20;
};

// How the sync thread lets appends gather before its next group, after one of
// `last_group_commits` commits whose write and fdatasync took `last_sync`: until
// `until_waiting` commits are waiting, for `at_most` (zero: it takes the next group at once).
struct GroupGathering {
  std::chrono::nanoseconds at_most{};
  std::size_t until_waiting = 0;
};
GroupGathering group_gathering(const SegmentEventLogOptions& options,
                               std::size_t last_group_commits, std::chrono::nanoseconds last_sync);

// The log of `--history-store segment`: the memory log's structures and speed, made to
// survive a crash of the process by an append-only journal. Each append is encoded and put
// into the page cache before it returns (and so before its publisher is answered): copied
// into a window of the journal mapped into memory and allocated ahead, or, when the window
// cannot be allocated, written with one write(); the kernel keeps either when the process
// dies. Durable against power loss only up to the last periodic fdatasync, run on a thread
// of its own; with sync_before_answer, the records are written and synced in groups by a
// thread of their own, reads leave out the events not synced yet, and History delivers and
// answers each publish once the group sync that covers it is done.
//
// On disk: journal-N segments of records (length, CRC-32, payload), and snapshot-N, the
// state before journal-N began. Opening reads the newest snapshot and the journals after it;
// a record whose length or checksum does not hold (a write torn by a power loss), or a zero
// length (the unused end of a segment prepared ahead, or of a window allocated ahead), ends
// its segment, and is cut off.
// Compaction starts a new segment (on the thread that calls retain()); a thread of its own
// then copies what was kept before it, a piece at a time while appends go on (see
// MemoryEventLog::begin_snapshot), writes it out, and renames the snapshot into place before
// it deletes the segments it replaces.
class SegmentEventLog final : public EventLog {
 public:
  SegmentEventLog(SegmentEventLogOptions options, metrics::Registry& registry);
  ~SegmentEventLog() override;
  SegmentEventLog(const SegmentEventLog&) = delete;
  SegmentEventLog& operator=(const SegmentEventLog&) = delete;

  Threading threading() const override { return Threading::CallerThread; }
  Appended append(std::span<core::EventDraft> drafts,
                  std::span<const core::LogPosition> positions) override;
  Page read(const std::string& stream, std::uint64_t after_id, PageLimit limit) override;
  void retain() override;
  void probe() override;
  std::vector<core::LogPosition> positions() override;
  bool syncs_in_groups() const override { return options_.sync_before_answer; }
  void when_synced(SyncDone done) override;

  // Waits until a compaction under way has written its snapshot (tests).
  void wait_for_compaction();
  // Waits until no segment asked for is still being prepared, or the timeout passes (tests).
  bool wait_for_spare_segment(std::chrono::milliseconds timeout);

 private:
  struct File;
  struct Snapshot;
  class SnapshotFile;

  void recover();
  void start_compaction();
  void run_background();
  void write_snapshot(Snapshot& snapshot);
  void write_snapshot_entries(const MemoryEventLog::SnapshotBoundary& boundary, SnapshotFile& file);
  void write_snapshot_extents(const MemoryEventLog::SnapshotBoundary& boundary, SnapshotFile& file);
  void throw_if_broken();
  // Writes the record in buffer_ to the journal, whole or not at all (throws).
  void write_buffered_record();
  // With sync_before_answer: leaves the record in buffer_ for the syncer to write, at the
  // place it takes in the journal now.
  void queue_buffered_record();
  // The appending side's bookkeeping once a record of `bytes` has its place in the journal.
  void note_appended(std::size_t bytes);
  // Without sync_before_answer: whether the journal's mapped window has room for `bytes` at
  // its end, moving the window on (allocating the file ahead) when it has not. False when the
  // file cannot be allocated or mapped: the record is then written with write(), which
  // reports the disk's own error.
  bool window_holds(File& journal, std::size_t bytes);
  void run_syncer();
  struct UnwrittenRecords;
  // The syncer's part of a group: writes the records, then syncs what it wrote; on failure
  // erases what it wrote (throws).
  void write_and_sync(std::vector<UnwrittenRecords>& records);
  // Leaves out of `page` the events of appends not synced yet.
  void hide_unsynced(Page& page) const;
  // Waits until the syncer has nothing in hand, so that the journal can be read back.
  void wait_for_syncer_idle();
  // The background thread's: waits until the appends up to `append_number` are synced;
  // false when a group failed (or the syncer stopped) first.
  bool wait_until_synced(std::uint64_t append_number);
  // Segments prepared ahead (segment_rotation.cpp): the appending side moves to a ready one
  // when the record does not fit, and asks for the next; the background thread makes it.
  void rotate_if_full(std::size_t record_bytes);
  bool wants_spare() const;  // under files_mutex_
  void prepare_spare_segment();
  void sync_retired_segments();

  SegmentEventLogOptions options_;
  const std::size_t segment_bytes_;  // options_.segment_bytes, resolved
  // Appends are copied into a mapped window of the journal rather than written (see
  // write_buffered_record): without sync_before_answer and prepared segments, and while the
  // file system can allocate ahead.
  bool maps_journal_;
  // Shared by the caller's thread and compaction's copy, which takes it a piece at a time.
  std::mutex memory_mutex_;
  MemoryEventLog memory_;
  std::string buffer_;  // the record being encoded, reused
  std::vector<std::string> keys_;  // dedupe keys of the drafts being appended, reused

  // The journal appended to. Swapped at compaction by the appending side; the background
  // thread takes a reference under files_mutex_ to fdatasync it.
  std::shared_ptr<File> journal_;
  std::uint64_t journal_index_ = 0;
  std::size_t journal_bytes_ = 0;  // written to journals since the last snapshot began
  bool broken_ = false;            // a write failed and memory no longer matches the journal

  std::mutex files_mutex_;
  std::condition_variable wake_;
  std::unique_ptr<Snapshot> pending_;  // for the background thread to write
  // The zeroed segment ready for the next rotation, whether the appending side asked for one,
  // and the segments rotation left, for the background thread to fdatasync.
  std::shared_ptr<File> spare_;
  std::atomic<bool> spare_ready_{false};  // read without the lock on every full segment
  bool spare_wanted_ = false;
  std::chrono::steady_clock::time_point spare_retry_at_{};  // after a failed preparation
  std::vector<std::shared_ptr<File>> retired_;
  // The appending side's: what it appended since opening, and whether it asked for a spare
  // for the segment it writes.
  std::size_t appended_since_open_ = 0;
  bool spare_asked_ = false;
  bool compacting_ = false;            // from start_compaction until the snapshot is in place
  bool stopping_ = false;
  std::atomic<std::size_t> snapshot_bytes_{0};
  std::thread background_;

  // Publishers waiting for a group sync, each with the last append numbered when it came.
  struct SyncWaiter {
    std::uint64_t through_append = 0;
    SyncDone done;
  };
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;
  std::deque<SyncWaiter> sync_waiters_;
  // While the sync thread gathers: the waiters that end its wait (the append that brings
  // sync_waiters_ to this count wakes it, once). Zero: every append wakes it.
  std::size_t gathering_until_waiting_ = 0;
  // Records encoded by the appending side and not written yet: runs of consecutive bytes of
  // one segment, each with the number of the last append it holds.
  struct UnwrittenRecords {
    std::shared_ptr<File> journal;
    std::size_t offset = 0;
    std::string bytes;
    std::uint64_t through_append = 0;
  };
  std::vector<UnwrittenRecords> unwritten_;
  std::atomic<std::size_t> unwritten_bytes_{0};  // in unwritten_ and in the syncer's hands
  bool syncer_busy_ = false;  // a group taken and not done with
  bool sync_stopping_ = false;
  bool syncer_stopped_ = false;
  std::condition_variable group_done_;  // after each group: the syncer idle, or synced further
  // A group's write or sync failed: what memory holds is not all in the journal, so every
  // group fails until the appending side has read the journal back (throw_if_broken).
  std::atomic<bool> group_failed_{false};
  std::string group_failure_;  // why, for the publishers refused meanwhile (syncer's)
  std::uint64_t appends_numbered_ = 0;  // the appending side's count, stamped on events
  std::atomic<std::uint64_t> synced_through_{0};  // the last append written and synced
  metrics::Counter& syncs_;
  std::thread syncer_;
};

}  // namespace ssehub::history
