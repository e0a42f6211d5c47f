#pragma once

#include <pthread.h>

#include <string>

namespace ssehub {

// Names the calling thread as `top -H`, perf and gdb show it (Linux keeps 15 characters), so
// a profile tells the history writer from an I/O thread.
inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace ssehub
