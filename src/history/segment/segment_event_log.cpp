#include "history/segment/segment_event_log.hpp"

#include "core/thread.hpp"

#include <boost/crc.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>

namespace ssehub::history {

namespace fs = std::filesystem;

namespace {

// A record: payload length (u32), CRC-32 of the payload (u32), payload. Integers are stored
// in the host's byte order: a journal is read back by the machine that wrote it.
constexpr std::size_t kHeader = 8;
constexpr std::size_t kMaxRecord = std::size_t{1} << 30;
constexpr std::size_t kSnapshotChunk = std::size_t{4} << 20;

// Payload kinds. A batch is one append: the time it was stored, its new events (with their
// dedupe keys) and the positions stored with them. A snapshot chunk is a run of tagged items.
constexpr std::uint8_t kBatch = 1;
constexpr std::uint8_t kSnapshotChunkKind = 2;
constexpr std::uint8_t kEventItem = 'e';     // an entry with its event
constexpr std::uint8_t kKeyItem = 'k';       // an entry whose event the count limit dropped
constexpr std::uint8_t kExtentItem = 's';    // a stream's last id and trimmed-through id
constexpr std::uint8_t kPositionItem = 'p';  // a partition's next offset

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& value) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

std::uint32_t crc_of(const char* data, std::size_t size) {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

void begin_record(std::string& out) {
  out.append(kHeader, '\0');
}

// Fills in the header of the record that begins at `start`.
void end_record(std::string& out, std::size_t start) {
  const auto size = static_cast<std::uint32_t>(out.size() - start - kHeader);
  const std::uint32_t crc = crc_of(out.data() + start + kHeader, size);
  std::memcpy(out.data() + start, &size, 4);
  std::memcpy(out.data() + start + 4, &crc, 4);
}

// Reads a payload whose checksum held: running past its end is a bug, not a torn write.
class Reader {
 public:
  Reader(const char* data, std::size_t size) : at_(data), end_(data + size) {}
  bool done() const { return at_ == end_; }
  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string get_string() {
    const auto size = get<std::uint32_t>();
    return std::string(take(size), size);
  }

 private:
  const char* take(std::size_t size) {
    if (static_cast<std::size_t>(end_ - at_) < size)
      throw std::runtime_error("history journal: a record is shorter than its contents");
    const char* data = at_;
    at_ += size;
    return data;
  }
  const char* at_;
  const char* end_;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      // Said in the words SQLite uses, so an operator reads one message whichever log runs.
      if (errno == ENOSPC) throw std::runtime_error("history journal: the disk is full (" + path + ")");
      throw_errno("history journal: write to " + path);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Calls `apply` on each whole record of the file; returns the offset after the last one. A
// torn write shows as a short header, a short payload or a checksum that does not match.
std::size_t read_records(const fs::path& path, const std::function<void(Reader&)>& apply) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw_errno("history journal: open " + path.string());
  std::size_t offset = 0;
  std::string payload;
  for (;;) {
    char header[kHeader];
    if (std::fread(header, 1, kHeader, file.get()) != kHeader) break;
    std::uint32_t size = 0, crc = 0;
    std::memcpy(&size, header, 4);
    std::memcpy(&crc, header + 4, 4);
    if (size > kMaxRecord) break;
    payload.resize(size);
    if (std::fread(payload.data(), 1, size, file.get()) != size) break;
    if (crc_of(payload.data(), size) != crc) break;
    Reader reader(payload.data(), size);
    apply(reader);
    offset += kHeader + size;
  }
  return offset;
}

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
// were (and the count limit and byte budget drop the same ones again).
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
    memory.append_at(drafts, positions, created_ms);
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
      memory.append_at({&draft, 1}, {}, created_ms);
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

std::string file_name(const char* kind, std::uint64_t index) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-%020llu.log", kind, static_cast<unsigned long long>(index));
  return name;
}

// "journal-00000000000000000007.log" -> 7 when `kind` is "journal".
std::optional<std::uint64_t> index_of(const std::string& name, const std::string& kind) {
  const std::string prefix = kind + "-";
  if (name.size() != prefix.size() + 20 + 4 || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - 4, 4, ".log") != 0)
    return std::nullopt;
  try {
    return std::stoull(name.substr(prefix.size(), 20));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

struct SegmentEventLog::File {
  File(fs::path path_in, int flags) : path(std::move(path_in)) {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("history journal: open " + path.string());
  }
  ~File() { ::close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  fs::path path;
  int fd = -1;
  std::size_t size = 0;  // what the appending side wrote (and kept) in this segment
};

// What compaction writes out: copied under History's lock (pointers to the kept events, not
// their payloads), written on the background thread.
struct SegmentEventLog::Snapshot {
  struct Entry {
    std::int64_t created_ms;
    std::uint64_t id;
    StoredEventPtr event;  // null: only the dedupe key is kept
    std::string stream;    // when there is no event to name it
    std::string dedupe_key;
  };
  std::uint64_t index = 0;  // the snapshot is the state before journal `index` began
  // The segment appends left: synced first, as the once-a-second flush now syncs the new one.
  std::shared_ptr<File> finished;
  std::vector<Entry> entries;
  std::vector<std::pair<std::string, StreamExtent>> extents;
  std::vector<core::LogPosition> positions;
};

SegmentEventLog::SegmentEventLog(SegmentEventLogOptions options, metrics::Registry& registry)
    : options_(std::move(options)),
      memory_(MemoryEventLogOptions{.budget_bytes = options_.budget_bytes,
                                    .retention = options_.retention},
              registry),
      syncs_(registry.counter("ssehub_history_journal_syncs_total",
                              "fdatasyncs of the segment log's journal (a group covers many "
                              "publishes with --history-sync full).")) {
  recover();
  background_ = core::named_thread("history-flush", [this] { run_background(); });
  if (options_.sync_before_answer)
    syncer_ = core::named_thread("history-sync", [this] { run_syncer(); });
}

SegmentEventLog::~SegmentEventLog() {
  {
    std::lock_guard lock(sync_mutex_);
    sync_stopping_ = true;
  }
  sync_wake_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  {
    std::lock_guard lock(files_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  background_.join();
  // A clean stop leaves nothing for a power loss to take.
  if (journal_ && options_.flush_interval > std::chrono::milliseconds::zero())
    ::fdatasync(journal_->fd);
}

void SegmentEventLog::recover() {
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
      spdlog::warn("history: {} ends in a torn record; cut at byte {} of {}", path.string(), whole,
                   size);
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
                                        O_WRONLY | O_CREAT | O_APPEND);
  journal->size = fs::file_size(journal->path);
  sync_directory(dir);
  std::lock_guard lock(files_mutex_);
  journal_ = std::move(journal);
}

void SegmentEventLog::throw_if_broken() {
  if (!broken_) return;
  // Memory holds what the failed append added: read back what the journal holds instead.
  wait_for_compaction();
  memory_.clear();
  recover();
  broken_ = false;
}

Appended SegmentEventLog::append(std::span<core::EventDraft> drafts,
                                 std::span<const core::LogPosition> positions) {
  throw_if_broken();
  const std::int64_t now = options_.retention.now_ms();
  // The memory log moves the dedupe keys away; the journal needs them.
  keys_.clear();
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    if (drafts[i].dedupe_key.empty()) continue;
    keys_.resize(drafts.size());
    keys_[i] = drafts[i].dedupe_key;
  }
  Appended appended = memory_.append_at(drafts, positions, now);
  if (appended.committed.empty() && positions.empty()) return appended;

  buffer_.clear();
  begin_record(buffer_);
  put<std::uint8_t>(buffer_, kBatch);
  put<std::int64_t>(buffer_, now);
  put<std::uint32_t>(buffer_, static_cast<std::uint32_t>(appended.committed.size()));
  auto skipped = appended.stored_before.begin();
  std::size_t draft_index = 0;
  for (const StoredEventPtr& event : appended.committed) {
    while (skipped != appended.stored_before.end() && *skipped == draft_index) {
      ++skipped;
      ++draft_index;
    }
    put_string(buffer_, event->stream);
    put<std::uint64_t>(buffer_, event->id);
    put_string(buffer_, event->type);
    put_string(buffer_, event->data);
    put_string(buffer_, draft_index < keys_.size() ? keys_[draft_index] : std::string());
    ++draft_index;
  }
  put<std::uint32_t>(buffer_, static_cast<std::uint32_t>(positions.size()));
  for (const core::LogPosition& position : positions) {
    put<std::int32_t>(buffer_, position.partition);
    put<std::int64_t>(buffer_, position.next_offset);
  }
  end_record(buffer_, 0);

  File& journal = *journal_;
  try {
    write_all(journal.fd, buffer_.data(), buffer_.size(), journal.path.string());
  } catch (const std::exception&) {
    // Nothing of a failed append may stay: cut what part of it was written, and forget
    // what memory took of it before the next append.
    if (::ftruncate(journal.fd, static_cast<off_t>(journal.size)) != 0)
      spdlog::error("history: cannot cut {} back after a failed write", journal.path.string());
    broken_ = true;
    throw;
  }
  journal.size += buffer_.size();
  journal_bytes_ += buffer_.size();
  return appended;
}

Page SegmentEventLog::read(const std::string& stream, std::uint64_t after_id, PageLimit limit) {
  return memory_.read(stream, after_id, limit);
}

void SegmentEventLog::retain() {
  throw_if_broken();
  memory_.retain();
  bool compacting = false;
  {
    std::lock_guard lock(files_mutex_);
    compacting = compacting_;
  }
  if (!compacting && journal_bytes_ > std::max(options_.compact_min_bytes, snapshot_bytes_.load()))
    start_compaction();
}

void SegmentEventLog::probe() {
  throw_if_broken();
  // An empty batch: a real write that reads back as nothing.
  buffer_.clear();
  begin_record(buffer_);
  put<std::uint8_t>(buffer_, kBatch);
  put<std::int64_t>(buffer_, options_.retention.now_ms());
  put<std::uint32_t>(buffer_, 0);
  put<std::uint32_t>(buffer_, 0);
  end_record(buffer_, 0);
  File& journal = *journal_;
  try {
    write_all(journal.fd, buffer_.data(), buffer_.size(), journal.path.string());
  } catch (const std::exception&) {
    if (::ftruncate(journal.fd, static_cast<off_t>(journal.size)) != 0)
      spdlog::error("history: cannot cut {} back after a failed write", journal.path.string());
    throw;
  }
  journal.size += buffer_.size();
  journal_bytes_ += buffer_.size();
}

void SegmentEventLog::start_compaction() {
  // A new segment first: the snapshot is the state before it, and appends go on into it
  // while the snapshot is written.
  const std::uint64_t index = journal_index_ + 1;
  auto journal = std::make_shared<File>(fs::path(options_.dir) / file_name("journal", index),
                                        O_WRONLY | O_CREAT | O_APPEND | O_TRUNC);
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->index = index;
  snapshot->finished = journal_;
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

void SegmentEventLog::when_synced(std::function<void(bool ok)> done) {
  {
    std::lock_guard lock(sync_mutex_);
    sync_waiters_.push_back({journal_, std::move(done)});
  }
  sync_wake_.notify_one();
}

// Takes every waiter at once and syncs the journals they wrote to: publishers that arrive
// during an fdatasync share the next one.
void SegmentEventLog::run_syncer() {
  std::deque<SyncWaiter> group;
  for (;;) {
    {
      std::unique_lock lock(sync_mutex_);
      sync_wake_.wait(lock, [&] { return sync_stopping_ || !sync_waiters_.empty(); });
      if (sync_waiters_.empty()) return;
      group.swap(sync_waiters_);
    }
    bool ok = true;
    const File* synced = nullptr;
    for (const SyncWaiter& waiter : group) {
      if (waiter.journal.get() == synced) continue;
      synced = waiter.journal.get();
      if (::fdatasync(synced->fd) != 0) {
        ok = false;
        spdlog::error("history: fdatasync of {} failed: {}", synced->path.string(),
                      std::strerror(errno));
      }
      syncs_.add();
    }
    for (SyncWaiter& waiter : group) waiter.done(ok);
    group.clear();
  }
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
    if (options_.flush_interval <= std::chrono::milliseconds::zero()) {
      wake_.wait(lock);
      continue;
    }
    if (wake_.wait_for(lock, options_.flush_interval) == std::cv_status::no_timeout) continue;
    const std::shared_ptr<File> journal = journal_;
    lock.unlock();
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
