// The segment log's background thread: compaction into a snapshot, and the periodic fdatasync.
#include "history/segment/segment_event_log.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ssehub::history {

namespace fs = std::filesystem;
using namespace segment_journal;

void SegmentEventLog::start_compaction() {
  // A new segment first: the snapshot is the state before it, and appends go on into it
  // while the snapshot is copied and written.
  const std::uint64_t index = journal_index_ + 1;
  auto journal = std::make_shared<File>(fs::path(options_.dir) / file_name("journal", index),
                                        O_RDWR | O_CREAT | O_TRUNC);
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = index;
  snapshot->through_append = appends_numbered_;
  snapshot->finished = journal_;
  {
    std::lock_guard lock(memory_mutex_);
    snapshot->boundary = memory_.begin_snapshot();
  }
  {
    std::lock_guard lock(files_mutex_);
    journal_ = std::move(journal);
    pending_ = std::move(snapshot);
    compacting_ = true;
  }
  wake_.notify_all();
  journal_index_ = index;
  journal_bytes_ = 0;
}

void SegmentEventLog::wait_for_compaction() {
  std::unique_lock lock(files_mutex_);
  wake_.wait(lock, [&] { return !compacting_; });
}

void SegmentEventLog::run_background() {
  std::unique_lock lock(files_mutex_);
  for (;;) {
    if (pending_) {
      std::unique_ptr<Snapshot> snapshot = std::move(pending_);
      lock.unlock();
      try {
        write_snapshot(*snapshot);
      } catch (const std::exception& e) {
        // The segments it would have replaced stay, so nothing is lost; the next
        // compaction tries again.
        spdlog::error("history: compaction failed: {}", e.what());
      }
      snapshot.reset();
      lock.lock();
      compacting_ = false;
      wake_.notify_all();
      continue;
    }
    if (stopping_) return;
    if (wants_spare()) {
      lock.unlock();
      prepare_spare_segment();
      lock.lock();
      continue;
    }
    if (options_.flush_interval <= std::chrono::milliseconds::zero()) {
      wake_.wait(lock);
      continue;
    }
    if (wake_.wait_for(lock, options_.flush_interval) == std::cv_status::no_timeout) continue;
    const std::shared_ptr<File> journal = journal_;
    lock.unlock();
    sync_retired_segments();
    if (journal->name_unsynced.exchange(false)) sync_directory(options_.dir);
    ::fdatasync(journal->fd);
    lock.lock();
  }
}

// The snapshot file being written: items go in records (chunks) of a few MB, and an item
// never spans two.
class SegmentEventLog::SnapshotFile {
 public:
  explicit SnapshotFile(fs::path tmp) : tmp_(std::move(tmp)), file_(tmp_, O_WRONLY | O_CREAT | O_TRUNC) {
    start_record();
  }
  std::string& out() { return out_; }
  void item_done() {
    if (out_.size() - record_ < kSnapshotChunk) return;
    flush();
    start_record();
  }
  // Writes the last record and syncs the file; returns its size.
  std::size_t finish() {
    flush();
    if (::fdatasync(file_.fd) != 0) throw_errno("history journal: fdatasync " + tmp_.string());
    return file_.size;
  }

 private:
  void start_record() {
    record_ = out_.size();
    begin_record(out_);
    put<std::uint8_t>(out_, kSnapshotChunkKind);
  }
  void flush() {
    end_record(out_, record_);
    write_all(file_.fd, out_.data(), out_.size(), tmp_.string());
    file_.size += out_.size();
    out_.clear();
  }

  fs::path tmp_;
  File file_;
  std::string out_;
  std::size_t record_ = 0;
};

void SegmentEventLog::write_snapshot(Snapshot& snapshot) {
  // The syncer writes the records: a snapshot may only hold what they made durable.
  if (options_.sync_before_answer && !wait_until_synced(snapshot.through_append))
    throw std::runtime_error("a group sync failed before the snapshot was written");
  if (options_.flush_interval > std::chrono::milliseconds::zero()) ::fdatasync(snapshot.finished->fd);
  snapshot.finished.reset();
  const fs::path dir(options_.dir);
  const fs::path path = dir / file_name("snapshot", snapshot.index);
  fs::path tmp = path;
  tmp += ".tmp";
  std::size_t size = 0;
  {
    SnapshotFile file(tmp);
    // Entries in their order, then the extents (their trimmed-through ids let go of events
    // listed before they were trimmed), then the positions.
    write_snapshot_entries(snapshot.boundary, file);
    write_snapshot_extents(snapshot.boundary, file);
    for (const core::LogPosition& position : snapshot.boundary.positions) {
      put<std::uint8_t>(file.out(), kPositionItem);
      put<std::int32_t>(file.out(), position.partition);
      put<std::int64_t>(file.out(), position.next_offset);
      file.item_done();
    }
    size = file.finish();
  }
  fs::rename(tmp, path);
  sync_directory(dir);
  snapshot_bytes_ = size;
  // Only now that the snapshot is in place may the segments before it go.
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    auto index = index_of(name, "journal");
    if (!index) index = index_of(name, "snapshot");
    if (index && *index < snapshot.index) fs::remove(entry.path());
  }
}

// Each piece is copied under the memory lock (pointers to the events, not their payloads) and
// encoded after it, while appends go on.
void SegmentEventLog::write_snapshot_entries(const MemoryEventLog::SnapshotBoundary& boundary,
                                             SnapshotFile& file) {
  struct Copied {
    std::int64_t created_ms;
    std::uint64_t id;
    StoredEventPtr event;  // null: only the dedupe key is kept
    std::string stream;    // when there is no event to name it
    std::string dedupe_key;
  };
  std::vector<Copied> piece;
  piece.reserve(options_.compaction_piece);
  for (std::uint64_t next = 0; next < boundary.entries_end;) {
    piece.clear();
    {
      std::lock_guard lock(memory_mutex_);
      next = memory_.list_entries(
          boundary, next, options_.compaction_piece, [&](const MemoryEventLog::KeptEntry& entry) {
            piece.push_back({.created_ms = entry.created_ms,
                             .id = entry.id,
                             .event = entry.event ? *entry.event : nullptr,
                             .stream = entry.event ? std::string() : entry.stream,
                             .dedupe_key = entry.dedupe_key});
          });
    }
    std::string& out = file.out();
    for (const Copied& entry : piece) {
      put<std::uint8_t>(out, entry.event ? kEventItem : kKeyItem);
      put<std::int64_t>(out, entry.created_ms);
      put_string(out, entry.event ? entry.event->stream : entry.stream);
      put<std::uint64_t>(out, entry.id);
      put_string(out, entry.dedupe_key);
      if (entry.event) {
        put_string(out, entry.event->type);
        put_string(out, entry.event->data);
      }
      file.item_done();
    }
    if (options_.between_compaction_pieces) options_.between_compaction_pieces();
  }
}

void SegmentEventLog::write_snapshot_extents(const MemoryEventLog::SnapshotBoundary& boundary,
                                             SnapshotFile& file) {
  std::vector<std::pair<std::string, StreamExtent>> piece;
  for (std::size_t next = 0; next < boundary.streams;) {
    piece.clear();
    {
      std::lock_guard lock(memory_mutex_);
      next = memory_.list_streams(boundary, next, options_.compaction_piece,
                                  [&](const std::string& stream, StreamExtent extent) {
                                    piece.emplace_back(stream, extent);
                                  });
    }
    for (const auto& [stream, extent] : piece) {
      put<std::uint8_t>(file.out(), kExtentItem);
      put_string(file.out(), stream);
      put<std::uint64_t>(file.out(), extent.last_id);
      put<std::uint64_t>(file.out(), extent.trimmed_through);
      file.item_done();
    }
    if (options_.between_compaction_pieces) options_.between_compaction_pieces();
  }
}

}  // namespace ssehub::history
