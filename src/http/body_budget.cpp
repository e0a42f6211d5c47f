#include "http/body_budget.hpp"


namespace ssehub::http {

bool BodyBudget::Share::grow_to(std::size_t bytes) {
  if (bytes <= held_) return true;
  if (!budget_.take(bytes - held_)) return false;
  held_ = bytes;
  return true;
}

bool BodyBudget::take(std::size_t bytes) {
  std::size_t held = held_.load(std::memory_order_relaxed);
  do {
    if (held + bytes > limit_) return false;
  } while (!held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  buffered_.add(static_cast<std::int64_t>(bytes));
  return true;
}

void BodyBudget::release(std::size_t bytes) {
  if (bytes == 0) return;
  held_.fetch_sub(bytes, std::memory_order_relaxed);
  buffered_.add(-static_cast<std::int64_t>(bytes));
}

}  // namespace ssehub::http
