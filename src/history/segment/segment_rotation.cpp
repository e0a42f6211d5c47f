// Segments prepared ahead: the journal is written into files of zeros that are already on
// disk, so an append changes neither a file's length nor its block map, and the fdatasync of
// `--history-sync full` writes data only (the only mode that prepares them: see
// SegmentEventLogOptions::segment_bytes). The background thread makes the next segment while
// the appending side fills the current one; the appending side moves to it when a record no
// longer fits, by renaming it into place (one rename per segment).
#include "history/segment/segment_event_log.hpp"
#include "history/segment/segment_event_log_internals.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace ssehub::history {

namespace fs = std::filesystem;
using namespace segment_journal;

namespace {

constexpr auto kSpareRetryDelay = std::chrono::seconds(1);
constexpr const char* kSpareName = "journal-next.tmp";  // removed by recovery, as any .tmp
constexpr std::size_t kZeroWriteBytes = 4096;  // no page is smaller: one page at most per write

}  // namespace

void SegmentEventLog::rotate_if_full(std::size_t record_bytes) {
  if (segment_bytes_ == 0) return;
  const std::size_t end = journal_->size + record_bytes;
  // Asked for half a segment ahead, so that the next one is ready when this one fills.
  if (!spare_asked_ && appended_since_open_ >= options_.first_segment_after_bytes &&
      end + segment_bytes_ / 2 > journal_->capacity) {
    spare_asked_ = true;
    {
      std::lock_guard lock(files_mutex_);
      spare_wanted_ = true;
    }
    wake_.notify_all();
  }
  if (end <= journal_->capacity || !spare_ready_.load(std::memory_order_acquire)) return;

  std::shared_ptr<File> next;
  {
    std::lock_guard lock(files_mutex_);
    next = std::move(spare_);
    spare_ready_ = false;
  }
  if (!next) return;
  spare_asked_ = false;
  const std::uint64_t index = journal_index_ + 1;
  const fs::path path = fs::path(options_.dir) / file_name("journal", index);
  std::error_code error;
  fs::rename(next->path, path, error);
  if (error) {
    // Not fatal: the record extends the current segment, and the next one is asked for.
    spdlog::warn("history: cannot rename {} into place: {}", next->path.string(), error.message());
    return;
  }
  next->path = path;
  next->name_unsynced = true;
  {
    std::lock_guard lock(files_mutex_);
    retired_.push_back(std::move(journal_));
    journal_ = std::move(next);
  }
  journal_index_ = index;
}

bool SegmentEventLog::wants_spare() const {
  return spare_wanted_ && !spare_ && std::chrono::steady_clock::now() >= spare_retry_at_;
}

void SegmentEventLog::prepare_spare_segment() {
  const fs::path path = fs::path(options_.dir) / kSpareName;
  try {
    auto spare = std::make_shared<File>(path, O_WRONLY | O_CREAT | O_TRUNC);
    // A page at most per write: the page cache sizes a folio by the write that creates it (ext4
    // since Linux 6.16), and every small append into a large folio walks all of its blocks.
    // Zeros written 1 MiB at a time made each append's write() cost twice what it does in a
    // 4 KiB folio (2.6-2.9 µs against 1.2-1.6 µs here).
    const std::string zeros(std::min(segment_bytes_, kZeroWriteBytes), '\0');
    for (std::size_t at = 0; at < segment_bytes_; at += zeros.size())
      write_all_at(spare->fd, zeros.data(), std::min(zeros.size(), segment_bytes_ - at),
                   at, path.string());
    // The zeros and the file's length on disk before any append relies on them.
    if (::fdatasync(spare->fd) != 0) throw_errno("history journal: fdatasync " + path.string());
    spare->capacity = segment_bytes_;
    {
      std::lock_guard lock(files_mutex_);
      spare_ = std::move(spare);
      spare_wanted_ = false;
      spare_ready_ = true;
    }
    wake_.notify_all();
  } catch (const std::exception& e) {
    spdlog::warn("history: cannot prepare the next journal segment ({}); appends extend the "
                 "current one",
                 e.what());
    std::error_code ignored;
    fs::remove(path, ignored);
    std::lock_guard lock(files_mutex_);
    spare_retry_at_ = std::chrono::steady_clock::now() + kSpareRetryDelay;
  }
}

void SegmentEventLog::sync_retired_segments() {
  std::vector<std::shared_ptr<File>> retired;
  {
    std::lock_guard lock(files_mutex_);
    retired.swap(retired_);
  }
  for (const std::shared_ptr<File>& file : retired) {
    if (file->name_unsynced.exchange(false)) sync_directory(options_.dir);
    ::fdatasync(file->fd);
  }
}

bool SegmentEventLog::wait_for_spare_segment(std::chrono::milliseconds timeout) {
  std::unique_lock lock(files_mutex_);
  return wake_.wait_for(lock, timeout, [&] { return spare_ != nullptr || !spare_wanted_; });
}

}  // namespace ssehub::history
