#pragma once

#include <cstdio>
#include <cstdlib>

// An invariant of the code under test. A failure aborts, which libFuzzer reports as a crash
// and saves the input; assert() would vanish under NDEBUG.
#define FUZZ_CHECK(condition)                                                          \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)
