#pragma once

#include "metrics/metrics.hpp"

#include <atomic>
#include <cstddef>
#include <memory>

namespace ssehub::http {

// Bytes of request bodies buffered at once by the whole server (--max-buffered-body-bytes):
// many connections each sending a body within its own limit cannot together take the
// memory. A request holds a share while its body is read and until it is answered.
class BodyBudget {
 public:
  BodyBudget(std::size_t limit, metrics::Gauge& buffered) : limit_(limit), buffered_(buffered) {}

  class Share {
   public:
    explicit Share(BodyBudget& budget) : budget_(budget) {}
    ~Share() { budget_.release(held_); }
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;

    // Holds `bytes` in all; false (holding what it held) when the budget has no room.
    bool grow_to(std::size_t bytes);

   private:
    BodyBudget& budget_;
    std::size_t held_ = 0;
  };

  std::shared_ptr<Share> share() { return std::make_shared<Share>(*this); }
  std::size_t held() const { return held_.load(std::memory_order_relaxed); }

 private:
  bool take(std::size_t bytes);
  void release(std::size_t bytes);

  const std::size_t limit_;
  metrics::Gauge& buffered_;  // ssehub_request_body_bytes_buffered
  std::atomic<std::size_t> held_{0};
};

}  // namespace ssehub::http
