#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

namespace ssehub::core {

// How many things are in progress (open streams, requests being answered), for a stopping
// server to wait until those in progress when it began waiting have all finished. Counting
// is one atomic operation; the mutex is taken only when the count falls to zero while
// someone waits.
class InProgress {
 public:
  void add() { count_.fetch_add(1); }
  void remove();
  std::size_t count() const { return count_.load(std::memory_order_relaxed); }

  // Waits until the count is zero, or has been zero at some moment since the call (so work
  // that keeps arriving cannot hold it up), or `timeout` has passed. True unless timed out.
  bool wait_until_empty(std::chrono::milliseconds timeout);

  // Counts one for as long as it lives.
  class Hold {
   public:
    explicit Hold(InProgress& counter) : counter_(&counter) { counter.add(); }
    ~Hold() {
      if (counter_) counter_->remove();
    }
    Hold(Hold&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    Hold& operator=(Hold&&) = delete;

   private:
    InProgress* counter_;
  };

 private:
  // Sequentially consistent, both: a remove() that takes the count to zero either sees the
  // waiter, or the waiter sees the zero.
  std::atomic<std::size_t> count_{0};
  std::atomic<unsigned> waiters_{0};
  std::mutex mutex_;
  std::condition_variable emptied_;
  std::uint64_t times_emptied_ = 0;  // under mutex_, counted only while someone waits
};

}  // namespace ssehub::core
