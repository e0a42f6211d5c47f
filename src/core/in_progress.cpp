#include "core/in_progress.hpp"

namespace ssehub::core {

void InProgress::remove() {
  if (count_.fetch_sub(1) != 1 || waiters_.load() == 0) return;
  std::lock_guard lock(mutex_);
  ++times_emptied_;
  emptied_.notify_all();
}

bool InProgress::wait_until_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  waiters_.fetch_add(1);
  const std::uint64_t emptied_before = times_emptied_;
  const bool empty = emptied_.wait_for(lock, timeout, [&] {
    return count_.load() == 0 || times_emptied_ != emptied_before;
  });
  waiters_.fetch_sub(1);
  return empty;
}

}  // namespace ssehub::core
