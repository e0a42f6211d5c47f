#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ssehub::core {

// Threads for blocking calls (a database, a broker), kept off the I/O threads. Jobs with the
// same key run on the same thread in submission order, so one user's operations (and their
// events) never overtake each other. Each thread's queue is bounded; a full queue refuses the
// job. The threads are named `name`-N.
class BlockingPool {
 public:
  BlockingPool(std::string name, unsigned threads, std::size_t queue_limit_per_thread);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // false when that thread's queue is full or the pool is stopping.
  bool submit(std::size_t key, std::function<void()> job);
  // Runs what is queued, then joins the threads.
  void stop();

 private:
  struct Lane {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::function<void()>> jobs;
    bool stopping = false;
    std::thread thread;
  };
  void run(Lane& lane);

  std::string name_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::size_t queue_limit_;
};

}  // namespace ssehub::core
