#include "history/segment/segment_event_log.hpp"

#include "core/thread.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace ssehub::history {

using namespace segment_journal;

SegmentEventLog::SegmentEventLog(SegmentEventLogOptions options, metrics::Registry& registry)
    : options_(std::move(options)),
      memory_(MemoryEventLogOptions{.budget_bytes = options_.budget_bytes,
                                    .retention = options_.retention},
              registry),
      syncs_(registry.counter("ssehub_history_journal_syncs_total",
                              "fdatasyncs of the segment log's journal (a group covers many "
                              "publishes with --history-sync full).")) {
  recover();
  // Asked at once when there is no threshold to wait for.
  spare_wanted_ = options_.segment_bytes > 0 && options_.first_segment_after_bytes == 0;
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
  Appended appended;
  {
    std::lock_guard lock(memory_mutex_);
    appended = memory_.append_at(drafts, positions, now);
  }
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
  return memory_.read(stream, after_id, limit);
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

void SegmentEventLog::write_buffered_record() {
  rotate_if_full(buffer_.size());
  File& journal = *journal_;
  try {
    write_all_at(journal.fd, buffer_.data(), buffer_.size(), journal.size, journal.path.string());
  } catch (const std::exception&) {
    // Nothing of a failed record may stay: zeros again where it was, inside a prepared
    // segment; cut off past its end.
    const std::string zeros(journal.size + buffer_.size() <= journal.capacity ? buffer_.size() : 0,
                            '\0');
    const bool erased =
        zeros.empty()
            ? ::ftruncate(journal.fd, static_cast<off_t>(journal.size)) == 0
            : ::pwrite(journal.fd, zeros.data(), zeros.size(), static_cast<off_t>(journal.size)) ==
                  static_cast<ssize_t>(zeros.size());
    if (!erased)
      spdlog::error("history: cannot erase a failed write from {}", journal.path.string());
    throw;
  }
  journal.size += buffer_.size();
  journal_bytes_ += buffer_.size();
  appended_since_open_ += buffer_.size();
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
    File* synced = nullptr;
    for (const SyncWaiter& waiter : group) {
      if (waiter.journal.get() == synced) continue;
      synced = waiter.journal.get();
      // A segment rotated into place needs its name on disk too.
      if (synced->name_unsynced.exchange(false)) sync_directory(options_.dir);
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

}  // namespace ssehub::history
