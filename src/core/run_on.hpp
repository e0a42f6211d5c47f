#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <utility>

namespace ssehub::core {

// How run_on reaches `executor`: always through its queue, or right here when this thread is
// already running its context (an I/O thread's own work needs no trip through its queue).
enum class Hop { Queue, UnlessHere };

// Runs `fn` on `executor`, or right here when there is none (callers on threads of their
// own, such as Kafka consumers, pass an empty executor and wait on a future).
template <class Fn>
void run_on(const boost::asio::any_io_executor& executor, Fn&& fn, Hop hop = Hop::Queue) {
  if (!executor)
    fn();
  else if (hop == Hop::UnlessHere)
    boost::asio::dispatch(executor, std::forward<Fn>(fn));
  else
    boost::asio::post(executor, std::forward<Fn>(fn));
}

}  // namespace ssehub::core
