#include "history/segment/segment_event_log.hpp"

#include "core/thread.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace ssehub::history {

using namespace segment_journal;

namespace {
constexpr std::size_t kSegmentBytesWhenSyncing = std::size_t{16} << 20;
// The journal's mapped window, allocated ahead in one go: moving it (an munmap, a fallocate
// and an mmap, 0.1-0.3 ms here) comes once every few tens of thousands of appends.
constexpr std::size_t kWindowBytes = std::size_t{4} << 20;
}  // namespace

SegmentEventLog::SegmentEventLog(SegmentEventLogOptions options, metrics::Registry& registry)
    : options_(std::move(options)),
      segment_bytes_(options_.segment_bytes.value_or(
          options_.sync_before_answer ? kSegmentBytesWhenSyncing : 0)),
      maps_journal_(!options_.sync_before_answer && segment_bytes_ == 0),
      memory_(MemoryEventLogOptions{.budget_bytes = options_.budget_bytes,
                                    .retention = options_.retention},
              registry),
      syncs_(registry.counter("ssehub_history_journal_syncs_total",
                              "fdatasyncs of the segment log's journal (a group covers many "
                              "publishes with --history-sync full).")) {
  recover();
  // Asked at once when there is no threshold to wait for.
  spare_wanted_ = segment_bytes_ > 0 && options_.first_segment_after_bytes == 0;
  spare_asked_ = spare_wanted_;
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
  if (journal_) journal_->leave_window();
  // A clean stop leaves nothing for a power loss to take.
  if (journal_ && options_.flush_interval > std::chrono::milliseconds::zero())
    ::fdatasync(journal_->fd);
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
  std::uint64_t append_number = 0;
  if (options_.sync_before_answer) {
    if (unwritten_bytes_.load(std::memory_order_relaxed) > options_.max_unwritten_bytes)
      throw std::runtime_error("history journal: the disk is behind (" +
                               std::to_string(unwritten_bytes_.load() >> 20) +
                               " MiB not written yet)");
    append_number = ++appends_numbered_;
  }
  Appended appended;
  {
    std::lock_guard lock(memory_mutex_);
    appended = memory_.append_at(drafts, positions, now, append_number);
  }
  if (appended.committed.empty() && positions.empty()) {
    if (append_number != 0) --appends_numbered_;  // no event carries it, no record holds it
    return appended;
  }

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

  if (options_.sync_before_answer) {
    queue_buffered_record();
    return appended;
  }
  try {
    write_buffered_record();
  } catch (const std::exception&) {
    // Memory took the events already: forget them before the next append.
    broken_ = true;
    throw;
  }
  return appended;
}

Page SegmentEventLog::read(const std::string& stream, std::uint64_t after_id, PageLimit limit) {
  std::lock_guard lock(memory_mutex_);
  if (!options_.sync_before_answer) return memory_.read(stream, after_id, limit);
  // Events not synced yet are not shown: a crash or a power loss could still take them back
  // (and their ids with them). Fan-out brings them once they are synced.
  return memory_.read_appended_through(stream, after_id, limit,
                                       synced_through_.load(std::memory_order_acquire));
}

std::vector<core::LogPosition> SegmentEventLog::positions() {
  std::lock_guard lock(memory_mutex_);
  return memory_.positions();
}

void SegmentEventLog::retain() {
  throw_if_broken();
  {
    std::lock_guard lock(memory_mutex_);
    memory_.retain();
  }
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
  write_buffered_record();
}

namespace {

// Nothing of a failed write may stay: zeros again where it was, inside a prepared segment;
// cut off past its end.
void erase_failed_write(int fd, std::size_t offset, std::size_t size, std::size_t capacity,
                        const std::filesystem::path& path) {
  const std::string zeros(offset + size <= capacity ? size : 0, '\0');
  const bool erased =
      zeros.empty() ? ::ftruncate(fd, static_cast<off_t>(offset)) == 0
                    : ::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offset)) ==
                          static_cast<ssize_t>(zeros.size());
  if (!erased) spdlog::error("history: cannot erase a failed write from {}", path.string());
}

}  // namespace

// A write() per append was a tenth of the publishing round trip with few publishers
// (docs/BENCHMARKS.md); a copy into the file's pages mapped into memory is the same page cache,
// so what an append copied survives the process as a write would, without a system call.
void SegmentEventLog::write_buffered_record() {
  rotate_if_full(buffer_.size());
  File& journal = *journal_;
  if (maps_journal_ && window_holds(journal, buffer_.size())) {
    std::memcpy(journal.window + (journal.size - journal.window_offset), buffer_.data(),
                buffer_.size());
    note_appended(buffer_.size());
    return;
  }
  try {
    write_all_at(journal.fd, buffer_.data(), buffer_.size(), journal.size, journal.path.string());
  } catch (const std::exception&) {
    erase_failed_write(journal.fd, journal.size, buffer_.size(), journal.capacity, journal.path);
    throw;
  }
  note_appended(buffer_.size());
}

bool SegmentEventLog::window_holds(File& journal, std::size_t bytes) {
  if (journal.window != nullptr &&
      journal.size + bytes <= journal.window_offset + journal.window_bytes)
    return true;
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t offset = journal.size / page * page;
  const std::size_t length =
      (std::max(kWindowBytes, journal.size - offset + bytes) + page - 1) / page * page;
  // The old window's allocated tail is kept: the new window starts inside it.
  journal.unmap_window();
  // Allocated first, so that no copy into the window ever needs a block the disk cannot
  // give (which a mapping could only report with SIGBUS).
  if (::fallocate(journal.fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
    // A file system that cannot allocate ahead never will; a full one may again later.
    if (errno == EOPNOTSUPP) {
      spdlog::info("history: {} cannot be allocated ahead; appends are written with write()",
                   journal.path.string());
      maps_journal_ = false;
    }
    return false;
  }
  journal.allocated_past_size = true;
  void* window = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, journal.fd,
                        static_cast<off_t>(offset));
  if (window == MAP_FAILED) {
    spdlog::warn("history: cannot map {} ({}); appends are written with write()",
                 journal.path.string(), std::strerror(errno));
    maps_journal_ = false;
    return false;
  }
  journal.window = static_cast<char*>(window);
  journal.window_offset = offset;
  journal.window_bytes = length;
  return true;
}

void SegmentEventLog::note_appended(std::size_t bytes) {
  journal_->size += bytes;
  journal_bytes_ += bytes;
  appended_since_open_ += bytes;
}

void SegmentEventLog::queue_buffered_record() {
  rotate_if_full(buffer_.size());
  {
    std::lock_guard lock(sync_mutex_);
    // Records of consecutive appends are consecutive in the journal: one write for them all.
    if (unwritten_.empty() || unwritten_.back().journal != journal_ ||
        unwritten_.back().offset + unwritten_.back().bytes.size() != journal_->size)
      unwritten_.push_back({.journal = journal_, .offset = journal_->size});
    unwritten_.back().bytes += buffer_;
    unwritten_.back().through_append = appends_numbered_;
  }
  unwritten_bytes_.fetch_add(buffer_.size(), std::memory_order_relaxed);
  note_appended(buffer_.size());
}

GroupGathering group_gathering(const SegmentEventLogOptions& options,
                               std::size_t last_group_commits, std::chrono::nanoseconds last_sync) {
  if (options.gather_after_commits == 0 || last_group_commits < options.gather_after_commits)
    return {};
  return {.at_most = std::min(last_sync, std::chrono::nanoseconds(options.max_gathering)),
          .until_waiting = std::max<std::size_t>(1, last_group_commits / 2)};
}

void SegmentEventLog::when_synced(SyncDone done) {
  {
    std::lock_guard lock(sync_mutex_);
    sync_waiters_.push_back({appends_numbered_, std::move(done)});
    if (gathering_until_waiting_ != 0 && sync_waiters_.size() != gathering_until_waiting_) return;
  }
  sync_wake_.notify_one();
}

// Takes every waiter and every unwritten record at once, writes the records and syncs them:
// publishers that arrive during an fdatasync share the next one. A waiter's append is synced
// once the syncer got as far as it, in this group or an earlier one.
void SegmentEventLog::run_syncer() {
  std::deque<SyncWaiter> group;
  std::vector<UnwrittenRecords> records;
  std::size_t last_group_commits = 0;
  std::chrono::nanoseconds last_sync{};
  for (;;) {
    {
      std::unique_lock lock(sync_mutex_);
      sync_wake_.wait(lock, [&] { return sync_stopping_ || !sync_waiters_.empty(); });
      const auto gathering = group_gathering(options_, last_group_commits, last_sync);
      if (gathering.at_most > std::chrono::nanoseconds::zero()) {
        gathering_until_waiting_ = gathering.until_waiting;
        sync_wake_.wait_for(lock, gathering.at_most, [&] {
          return sync_stopping_ || sync_waiters_.size() >= gathering.until_waiting;
        });
        gathering_until_waiting_ = 0;
      }
      if (sync_waiters_.empty() && unwritten_.empty()) {
        syncer_stopped_ = true;
        group_done_.notify_all();
        return;
      }
      group.swap(sync_waiters_);
      records.swap(unwritten_);
      syncer_busy_ = true;
    }
    last_group_commits = group.size();
    last_sync = {};
    std::size_t bytes = 0;
    for (const UnwrittenRecords& run : records) bytes += run.bytes.size();
    if (!records.empty() && !group_failed_.load()) {
      try {
        const auto started = std::chrono::steady_clock::now();
        write_and_sync(records);
        last_sync = std::chrono::steady_clock::now() - started;
        synced_through_.store(records.back().through_append, std::memory_order_release);
      } catch (const std::exception& e) {
        group_failure_ = e.what();
        group_failed_ = true;
        spdlog::error("history: a group of {} bytes was not stored: {}", bytes, e.what());
      }
    }
    unwritten_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    const std::uint64_t synced = synced_through_.load(std::memory_order_acquire);
    static const std::string kSynced;
    for (SyncWaiter& waiter : group)
      waiter.done(waiter.through_append <= synced ? kSynced : group_failure_);
    group.clear();
    records.clear();
    {
      std::lock_guard lock(sync_mutex_);
      syncer_busy_ = false;
    }
    group_done_.notify_all();
  }
}

void SegmentEventLog::write_and_sync(std::vector<UnwrittenRecords>& records) {
  std::size_t reached = 0;  // the runs written, wholly or in part
  try {
    for (; reached < records.size(); ++reached) {
      UnwrittenRecords& run = records[reached];
      write_all_at(run.journal->fd, run.bytes.data(), run.bytes.size(), run.offset,
                   run.journal->path.string());
    }
    const File* synced = nullptr;
    for (const UnwrittenRecords& run : records) {
      if (run.journal.get() == synced) continue;
      synced = run.journal.get();
      // A segment rotated into place needs its name on disk too.
      if (run.journal->name_unsynced.exchange(false)) sync_directory(options_.dir);
      if (::fdatasync(run.journal->fd) != 0)
        throw_errno("history journal: fdatasync " + run.journal->path.string());
      syncs_.add();
    }
  } catch (const std::exception&) {
    // None of the group may be read back: its publishers are refused.
    for (std::size_t i = 0; i < records.size() && i <= reached; ++i)
      erase_failed_write(records[i].journal->fd, records[i].offset, records[i].bytes.size(),
                         records[i].journal->capacity, records[i].journal->path);
    throw;
  }
}

void SegmentEventLog::wait_for_syncer_idle() {
  std::unique_lock lock(sync_mutex_);
  group_done_.wait(lock, [&] {
    return syncer_stopped_ || (!syncer_busy_ && sync_waiters_.empty() && unwritten_.empty());
  });
}

bool SegmentEventLog::wait_until_synced(std::uint64_t append_number) {
  std::unique_lock lock(sync_mutex_);
  group_done_.wait(lock, [&] {
    return syncer_stopped_ || group_failed_.load() ||
           synced_through_.load(std::memory_order_acquire) >= append_number;
  });
  return synced_through_.load(std::memory_order_acquire) >= append_number;
}

}  // namespace ssehub::history
