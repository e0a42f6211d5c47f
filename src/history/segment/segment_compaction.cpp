// The segment log's background thread: compaction into a snapshot, and the periodic fdatasync.
#include "history/segment/segment_event_log.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ssehub::history {

namespace fs = std::filesystem;
using namespace segment_journal;

void SegmentEventLog::start_compaction() {
  // A new segment first: the snapshot is the state before it, and appends go on into it
  // while the snapshot is written.
  const std::uint64_t index = journal_index_ + 1;
  auto journal = std::make_shared<File>(fs::path(options_.dir) / file_name("journal", index),
                                        O_WRONLY | O_CREAT | O_TRUNC);
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = index;
  snapshot->finished = journal_;
  snapshot->entries.reserve(memory_.entry_count());
  memory_.for_each_entry([&](const MemoryEventLog::KeptEntry& entry) {
    snapshot->entries.push_back(
        {.created_ms = entry.created_ms,
         .id = entry.id,
         .event = entry.event ? *entry.event : nullptr,
         .stream = entry.event ? std::string() : entry.stream,
         .dedupe_key = entry.dedupe_key});
  });
  memory_.for_each_stream([&](const std::string& stream, StreamExtent extent) {
    snapshot->extents.emplace_back(stream, extent);
  });
  snapshot->positions = memory_.positions();
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

void SegmentEventLog::write_snapshot(Snapshot& snapshot) {
  if (options_.flush_interval > std::chrono::milliseconds::zero()) ::fdatasync(snapshot.finished->fd);
  snapshot.finished.reset();
  const fs::path dir(options_.dir);
  const fs::path path = dir / file_name("snapshot", snapshot.index);
  fs::path tmp = path;
  tmp += ".tmp";
  File file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  std::string out;
  std::size_t record = 0;
  const auto start_record = [&] {
    record = out.size();
    begin_record(out);
    put<std::uint8_t>(out, kSnapshotChunkKind);
  };
  // Items go in chunks of a few MB; an item never spans two.
  const auto item_done = [&] {
    if (out.size() - record < kSnapshotChunk) return;
    end_record(out, record);
    write_all(file.fd, out.data(), out.size(), tmp.string());
    file.size += out.size();
    out.clear();
    start_record();
  };
  start_record();
  // Entries in their order, then the extents (after the events, which would otherwise be
  // taken for re-deliveries), then the positions.
  for (const Snapshot::Entry& entry : snapshot.entries) {
    put<std::uint8_t>(out, entry.event ? kEventItem : kKeyItem);
    put<std::int64_t>(out, entry.created_ms);
    put_string(out, entry.event ? entry.event->stream : entry.stream);
    put<std::uint64_t>(out, entry.id);
    put_string(out, entry.dedupe_key);
    if (entry.event) {
      put_string(out, entry.event->type);
      put_string(out, entry.event->data);
    }
    item_done();
  }
  for (const auto& [stream, extent] : snapshot.extents) {
    put<std::uint8_t>(out, kExtentItem);
    put_string(out, stream);
    put<std::uint64_t>(out, extent.last_id);
    put<std::uint64_t>(out, extent.trimmed_through);
    item_done();
  }
  for (const core::LogPosition& position : snapshot.positions) {
    put<std::uint8_t>(out, kPositionItem);
    put<std::int32_t>(out, position.partition);
    put<std::int64_t>(out, position.next_offset);
    item_done();
  }
  end_record(out, record);
  write_all(file.fd, out.data(), out.size(), tmp.string());
  file.size += out.size();
  if (::fdatasync(file.fd) != 0) throw_errno("history journal: fdatasync " + tmp.string());
  fs::rename(tmp, path);
  sync_directory(dir);
  snapshot_bytes_ = file.size;
  // Only now that the snapshot is in place may the segments before it go.
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    auto index = index_of(name, "journal");
    if (!index) index = index_of(name, "snapshot");
    if (index && *index < snapshot.index) fs::remove(entry.path());
  }
}

}  // namespace ssehub::history
