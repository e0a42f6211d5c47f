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
  // With `cpus` (one per thread, see core::one_cpu_each), thread i runs on cpus[i] only:
  // a publish's delivery to a stream of another I/O thread then never waits for that thread
  // to get a CPU that it shares with the first (issue 15's p99). Empty: the kernel places
  // them.
  explicit IoPool(unsigned threads, std::vector<unsigned> cpus = {});
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
  // The CPU each thread is kept on; empty when they are not (none asked, or refused).
  std::vector<unsigned> cpus() const { return pin_refused_ ? std::vector<unsigned>{} : cpus_; }
  boost::asio::io_context& context(unsigned index) { return *contexts_[index]; }

  void start();
  // Stops every context, joins the threads, then destroys every handler still queued or
  // waiting on I/O, with what it holds (idle connections, half-read requests, answers not
  // yet written): when stop() returns, no handler is left to touch what it references, so
  // call it before destroying anything a handler may point to. Idempotent; not from a pool
  // thread.
  void stop();

  static constexpr unsigned kNotAPoolThread = ~0u;
  // Index of the pool thread running the caller, or kNotAPoolThread.
  static unsigned current_index();

 private:
  // An io_context destroys its pending handlers only in its destructor, after whatever was
  // declared after the pool is gone; Context does it on demand, as its destructor would.
  class Context : public boost::asio::io_context {
   public:
    using boost::asio::io_context::io_context;
    void destroy_pending_handlers() { shutdown(); }  // execution_context::shutdown
  };
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  std::vector<unsigned> cpus_;
  bool pin_refused_ = false;
};

}  // namespace ssehub::http
