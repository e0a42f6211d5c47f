#pragma once

#include <atomic>
#include <stdexcept>
#include <string>

#include "options.hpp"

namespace loadgen {

// Set from a signal handler: every wait of the run ends early and results are still printed.
extern std::atomic<bool> g_interrupted;

// Thrown when the run cannot start as asked (e.g. more streams than the fd limit allows).
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RunOutcome {
  std::string json;            // one line
  std::string strict_failure;  // why --strict fails the run; empty if it passes
};

// Runs the phases (open streams, read server memory, publish, drain, hold) and returns the
// result as one JSON line.
RunOutcome run_load(const Options& opts);

}  // namespace loadgen
