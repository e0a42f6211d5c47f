#include "core/cpu_affinity.hpp"

#include <sched.h>

namespace ssehub::core {

std::vector<unsigned> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

std::vector<unsigned> one_cpu_each(unsigned threads, const std::vector<unsigned>& usable) {
  if (threads == 0 || threads > usable.size()) return {};
  return {usable.begin(), usable.begin() + threads};
}

std::error_code pin_thread(pthread_t thread, unsigned cpu) {
  if (cpu >= CPU_SETSIZE) return std::make_error_code(std::errc::invalid_argument);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // Returns the error number rather than setting errno.
  return {pthread_setaffinity_np(thread, sizeof set, &set), std::system_category()};
}

}  // namespace ssehub::core
