#pragma once

#include <pthread.h>

#include <system_error>
#include <vector>

namespace ssehub::core {

// The CPUs this process may run on, in ascending order: its affinity mask, which `taskset`
// and a container's cpuset narrow (std::thread::hardware_concurrency counts every CPU the
// machine has). Read from the calling thread's mask, so call it from a thread nobody pinned
// (start-up). Empty if the kernel does not say.
std::vector<unsigned> usable_cpus();

// Which CPU each of `threads` threads gets when each is to have one of its own: the first
// `threads` of `usable`; none (empty) when there are more threads than CPUs, since two
// pinned threads sharing a CPU could not move away from each other.
std::vector<unsigned> one_cpu_each(unsigned threads, const std::vector<unsigned>& usable);

// Keeps `thread` on `cpu`. An error when the kernel refuses (an offline CPU, or a sandbox
// that denies sched_setaffinity, as the packaged unit does); the thread then runs where it
// did. Threads it starts afterwards inherit the one CPU.
std::error_code pin_thread(pthread_t thread, unsigned cpu);

}  // namespace ssehub::core
