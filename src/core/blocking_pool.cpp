#include "core/blocking_pool.hpp"

#include "core/thread.hpp"

#include <spdlog/spdlog.h>

namespace ssehub::core {

BlockingPool::BlockingPool(std::string name, unsigned threads, std::size_t queue_limit_per_thread)
    : name_(std::move(name)), queue_limit_(queue_limit_per_thread) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) lanes_.push_back(std::make_unique<Lane>());
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    lanes_[i]->thread =
        named_thread(name_ + "-" + std::to_string(i), [this, raw = lanes_[i].get()] { run(*raw); });
  }
}

BlockingPool::~BlockingPool() { stop(); }

bool BlockingPool::submit(std::size_t key, std::function<void()> job) {
  Lane& lane = *lanes_[key % lanes_.size()];
  {
    std::lock_guard lock(lane.mutex);
    if (lane.stopping || lane.jobs.size() >= queue_limit_) return false;
    lane.jobs.push_back(std::move(job));
  }
  lane.ready.notify_one();
  return true;
}

void BlockingPool::run(Lane& lane) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(lane.mutex);
      lane.ready.wait(lock, [&] { return lane.stopping || !lane.jobs.empty(); });
      if (lane.jobs.empty()) return;
      job = std::move(lane.jobs.front());
      lane.jobs.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{}: job failed unexpectedly: {}", name_, e.what());
    }
  }
}

void BlockingPool::stop() {
  for (auto& lane : lanes_) {
    {
      std::lock_guard lock(lane->mutex);
      lane->stopping = true;
    }
    lane->ready.notify_all();
  }
  for (auto& lane : lanes_)
    if (lane->thread.joinable()) lane->thread.join();
}

}  // namespace ssehub::core
