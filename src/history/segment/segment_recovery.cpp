// Opening the segment log: reading the newest snapshot and the journals after it back into memory.
#include "history/segment/segment_event_log.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

namespace ssehub::history {

namespace fs = std::filesystem;
using namespace segment_journal;

namespace {

core::EventDraft restored_draft(std::string stream, std::uint64_t id, std::string type,
                                std::string data, std::string dedupe_key) {
  core::EventDraft draft;
  draft.stream = std::move(stream);
  draft.id = id;
  draft.type = std::move(type);
  draft.data = std::move(data);
  draft.dedupe_key = std::move(dedupe_key);
  draft.accepted_at = {};
  return draft;
}

// Applies one record to the memory log. Events carry their ids, so they are kept as they
// were (and the count limit and byte budget drop the same ones again). Every event read
// back was accepted as new when it was stored, so none is taken for a re-delivery.
void apply_record(Reader& reader, MemoryEventLog& memory) {
  const auto kind = reader.get<std::uint8_t>();
  if (kind == kBatch) {
    const auto created_ms = reader.get<std::int64_t>();
    std::vector<core::EventDraft> drafts(reader.get<std::uint32_t>());
    for (core::EventDraft& draft : drafts) {
      std::string stream = reader.get_string();
      const auto id = reader.get<std::uint64_t>();
      std::string type = reader.get_string();
      std::string data = reader.get_string();
      draft = restored_draft(std::move(stream), id, std::move(type), std::move(data),
                             reader.get_string());
    }
    std::vector<core::LogPosition> positions(reader.get<std::uint32_t>());
    for (core::LogPosition& position : positions) {
      position.partition = reader.get<std::int32_t>();
      position.next_offset = reader.get<std::int64_t>();
    }
    memory.restore_events(drafts, created_ms);
    memory.append_at({}, positions, created_ms);
    return;
  }
  if (kind != kSnapshotChunkKind)
    throw std::runtime_error("history journal: unknown record kind " + std::to_string(kind));
  while (!reader.done()) {
    const auto item = reader.get<std::uint8_t>();
    if (item == kEventItem || item == kKeyItem) {
      const auto created_ms = reader.get<std::int64_t>();
      std::string stream = reader.get_string();
      const auto id = reader.get<std::uint64_t>();
      std::string key = reader.get_string();
      if (item == kKeyItem) {
        memory.restore_key(stream, id, created_ms, std::move(key));
        continue;
      }
      std::string type = reader.get_string();
      core::EventDraft draft = restored_draft(std::move(stream), id, std::move(type),
                                              reader.get_string(), std::move(key));
      memory.restore_events({&draft, 1}, created_ms);
    } else if (item == kExtentItem) {
      std::string stream = reader.get_string();
      StreamExtent extent;
      extent.last_id = reader.get<std::uint64_t>();
      extent.trimmed_through = reader.get<std::uint64_t>();
      memory.restore_extent(stream, extent);
    } else if (item == kPositionItem) {
      core::LogPosition position;
      position.partition = reader.get<std::int32_t>();
      position.next_offset = reader.get<std::int64_t>();
      memory.append_at({}, {&position, 1}, 0);
    } else {
      throw std::runtime_error("history journal: unknown snapshot item " + std::to_string(item));
    }
  }
}

}  // namespace

void SegmentEventLog::recover() {
  // Read back from the files as they are: the zeros allocated ahead are cut below.
  if (journal_) journal_->drop_window();
  const fs::path dir(options_.dir);
  fs::create_directories(dir);
  std::map<std::uint64_t, fs::path> journals, snapshots;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (auto index = index_of(name, "journal")) journals[*index] = entry.path();
    else if (auto index = index_of(name, "snapshot")) snapshots[*index] = entry.path();
    else if (entry.path().extension() == ".tmp") fs::remove(entry.path());  // a compaction cut short
  }
  const std::uint64_t base = snapshots.empty() ? 1 : snapshots.rbegin()->first;
  const auto apply = [this](Reader& reader) { apply_record(reader, memory_); };
  if (!snapshots.empty()) {
    const fs::path& path = snapshots.rbegin()->second;
    const std::size_t size = fs::file_size(path);
    // A snapshot is synced before it is renamed into place, so it is whole or absent.
    if (read_records(path, apply) != size)
      throw std::runtime_error("history journal: snapshot " + path.string() + " is damaged");
    snapshot_bytes_ = size;
  }
  journal_bytes_ = 0;
  journal_index_ = base;
  for (const auto& [index, path] : journals) {
    if (index < base) continue;
    const std::size_t size = fs::file_size(path);
    const std::size_t whole = read_records(path, apply);
    if (whole != size) {
      if (zeros_from(path, whole))
        spdlog::debug("history: {} ends at byte {} of its prepared {}", path.string(), whole, size);
      else
        spdlog::warn("history: {} ends in a torn record; cut at byte {} of {}", path.string(),
                     whole, size);
      fs::resize_file(path, whole);
    }
    journal_bytes_ += whole;
    journal_index_ = index;
  }
  // What a finished compaction replaced, if the process ended before deleting it.
  for (const auto& [index, path] : journals)
    if (index < base) fs::remove(path);
  for (const auto& [index, path] : snapshots)
    if (index < base) fs::remove(path);

  auto journal = std::make_shared<File>(dir / file_name("journal", journal_index_),
                                        O_RDWR | O_CREAT);
  journal->size = fs::file_size(journal->path);
  journal->capacity = journal->size;  // nothing prepared past it: the first append rotates
  sync_directory(dir);
  std::lock_guard lock(files_mutex_);
  journal_ = std::move(journal);
}

void SegmentEventLog::throw_if_broken() {
  if (!broken_ && !group_failed_.load()) return;
  // Memory holds what the failed append added: read back what the journal holds instead,
  // once the syncer has given up on every record it was given.
  wait_for_syncer_idle();
  wait_for_compaction();
  {
    // Recovery removes the spare's file (a .tmp); the next rotation asks for another.
    std::lock_guard lock(files_mutex_);
    spare_.reset();
    spare_ready_ = false;
    spare_wanted_ = false;
  }
  spare_asked_ = false;
  memory_.clear();
  recover();
  broken_ = false;
  group_failed_ = false;
}

}  // namespace ssehub::history
