// SegmentEventLog's private types, shared by its source files: an open segment file, and the
// snapshot that compaction hands to the background thread.
#pragma once

#include "history/segment/segment_event_log.hpp"
#include "history/segment/segment_journal_format.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ssehub::history {

struct SegmentEventLog::File {
  File(std::filesystem::path path_in, int flags) : path(std::move(path_in)) {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) segment_journal::throw_errno("history journal: open " + path.string());
  }
  ~File() {
    leave_window();
    ::close(fd);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::filesystem::path path;
  int fd = -1;
  std::size_t size = 0;  // what the appending side wrote (and kept) in this segment
  // Bytes from the start known to be zeros that are on disk (a segment prepared ahead):
  // appends below this overwrite, past it they extend the file.
  std::size_t capacity = 0;
  // Renamed into place and the directory not yet synced: a power loss could lose the name.
  std::atomic<bool> name_unsynced{false};

  // Without sync_before_answer: the part of the file mapped for appends, allocated ahead
  // (SegmentEventLog::window_holds). The appending side's until the segment is left.
  char* window = nullptr;
  std::size_t window_offset = 0;  // in the file; a multiple of the page size
  std::size_t window_bytes = 0;
  bool allocated_past_size = false;  // the file's length runs past `size`, in zeros

  // Unmaps the window and cuts the zeros allocated past what was appended, so a segment
  // left (or a clean stop) reads as if every append had been written at its end. The
  // kernel keeps what the mapping wrote: it is the file's page cache.
  void leave_window() {
    unmap_window();
    if (allocated_past_size && ::ftruncate(fd, static_cast<off_t>(size)) != 0)
      return;  // the zeros stay: recovery reads them as the end of the segment, and cuts them
    allocated_past_size = false;
  }
  void unmap_window() {
    if (window != nullptr) ::munmap(window, window_bytes);
    window = nullptr;
    window_bytes = 0;
  }
  // Forgets the window without cutting the file (recovery cuts it, from what it reads).
  void drop_window() {
    allocated_past_size = false;
    leave_window();
  }
};

// What compaction writes out: the state before journal `index` began, copied from memory a
// piece at a time on the background thread (pointers to the kept events, not their payloads).
struct SegmentEventLog::Snapshot {
  std::uint64_t index = 0;
  // With sync_before_answer: the last append before the boundary, to be synced before the
  // snapshot is written (a failed group must not reach a snapshot).
  std::uint64_t through_append = 0;
  // The segment appends left: synced first, as the once-a-second flush now syncs the new one.
  std::shared_ptr<File> finished;
  MemoryEventLog::SnapshotBoundary boundary;
};

}  // namespace ssehub::history
