#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace ssehub::test_support {

// N io_contexts, each run by a thread of its own, as the server's I/O threads are.
class IoThreads {
 public:
  explicit IoThreads(unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    for (auto& context : contexts_) threads_.emplace_back([raw = context.get()] { raw->run(); });
  }
  ~IoThreads() { stop(); }
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  std::vector<boost::asio::io_context*> contexts() const {
    std::vector<boost::asio::io_context*> raw;
    for (const auto& context : contexts_) raw.push_back(context.get());
    return raw;
  }
  boost::asio::io_context& context(unsigned i) { return *contexts_[i]; }
  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }

  // Runs `fn` on thread `i` and waits for it: everything posted there before has run too.
  template <typename Fn>
  auto run_on(unsigned i, Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(*contexts_[i], [&task] { task(); });
    return result.get();
  }
  // Waits until every thread has run what was posted to it so far.
  void drain() {
    for (unsigned i = 0; i < size(); ++i) run_on(i, [] {});
  }

  // Runs what is queued, then stops the threads as the server does (io_context::stop, since
  // timers such as the hub's ticks may keep a context busy for ever) and joins them.
  void stop() {
    if (threads_.empty()) return;
    drain();
    guards_.clear();
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace ssehub::test_support
