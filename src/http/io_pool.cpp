#include "http/io_pool.hpp"

#include "core/cpu_affinity.hpp"
#include "core/thread.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace ssehub::http {

namespace {
thread_local unsigned current_thread_index = IoPool::kNotAPoolThread;
}

IoPool::IoPool(unsigned threads, std::vector<unsigned> cpus) : cpus_(std::move(cpus)) {
  if (!cpus_.empty() && cpus_.size() != threads)
    throw std::invalid_argument("IoPool: " + std::to_string(cpus_.size()) + " CPUs for " +
                                std::to_string(threads) + " threads");
  for (unsigned i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so Asio can skip locks.
    contexts_.push_back(std::make_unique<Context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoPool::~IoPool() { stop(); }

void IoPool::start() {
  for (unsigned i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      current_thread_index = i;
      core::name_this_thread("ssehub-io-" + std::to_string(i));
      for (;;) {
        try {
          contexts_[i]->run();
          return;
        } catch (const std::exception& e) {
          spdlog::critical("io thread {}: unhandled exception: {}", i, e.what());
        }
      }
    });
    // Pinned before start() returns, so what the log says of the threads already holds. A
    // thread started from an I/O thread would inherit its one CPU; none is (blocking work
    // goes to threads the main thread starts).
    if (cpus_.empty()) continue;
    if (const auto error = core::pin_thread(threads_.back().native_handle(), cpus_[i])) {
      spdlog::warn("io thread {}: cannot keep it on CPU {} ({}); the kernel places it", i, cpus_[i],
                   error.message());
      pin_refused_ = true;
    }
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
  // With no thread left running them, the handlers can be destroyed from here. A handler
  // posted after this is only destroyed with its context.
  for (auto& context : contexts_) context->destroy_pending_handlers();
}

unsigned IoPool::current_index() { return current_thread_index; }

}  // namespace ssehub::http
