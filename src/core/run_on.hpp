#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <utility>

namespace ssehub::core {

// Runs `fn` on `executor`, or right here when there is none (callers on threads of their
// own, such as Kafka consumers, pass an empty executor and wait on a future).
template <class Fn>
void run_on(const boost::asio::any_io_executor& executor, Fn&& fn) {
  if (executor)
    boost::asio::post(executor, std::forward<Fn>(fn));
  else
    fn();
}

// As run_on, but runs `fn` right here when this thread is already running `executor`'s
// context: an I/O thread's own work needs no trip through its queue.
template <class Fn>
void dispatch_on(const boost::asio::any_io_executor& executor, Fn&& fn) {
  if (executor)
    boost::asio::dispatch(executor, std::forward<Fn>(fn));
  else
    fn();
}

}  // namespace ssehub::core
