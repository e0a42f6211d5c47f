#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <thread>
#include <vector>

namespace ssehub::http {

// N I/O threads, each running its own io_context (shared-nothing): a connection stays on
// the thread that accepted it, and other threads reach it only through asio::post.
class IoPool {
 public:
  explicit IoPool(unsigned threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  boost::asio::io_context& context(unsigned index) { return *contexts_[index]; }

  void start();
  void stop();  // stops every context; pending handlers are dropped
  void join();

  static constexpr unsigned kNotAPoolThread = ~0u;
  // Index of the pool thread running the caller, or kNotAPoolThread.
  static unsigned current_index();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace ssehub::http
