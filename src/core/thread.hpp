#pragma once

#include <pthread.h>

#include <string>
#include <thread>
#include <utility>

namespace ssehub::core {

// Names the calling thread as `top -H`, perf and gdb show it (Linux keeps 15 characters), so
// a profile tells the history writer from an I/O thread.
inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// A thread named `name` that runs `body`.
template <class Body>
std::thread named_thread(std::string name, Body body) {
  return std::thread([name = std::move(name), body = std::move(body)]() mutable {
    name_this_thread(name);
    body();
  });
}

}  // namespace ssehub::core
