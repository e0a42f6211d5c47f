#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace ssehub::test_support {

// A path in the temporary directory that no other test uses at the same time: ctest runs
// tests in parallel processes, so a fixed name is shared (and removed) under another's feet.
// One file name, not a nested path: a parameterised test's name ("Name/Param") has a slash.
inline std::filesystem::path unique_temp_path(const std::string& prefix,
                                              const std::string& suffix = "") {
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test.begin(), test.end(), '/', '_');
  return std::filesystem::temp_directory_path() /
         (prefix + "_" + std::to_string(::getpid()) + "_" + test + suffix);
}

}  // namespace ssehub::test_support
