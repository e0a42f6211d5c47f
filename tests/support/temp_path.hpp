#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ssehub::test_support {

// A path in the temporary directory that no other test uses at the same time: ctest runs
// tests in parallel processes, so a fixed name is shared (and removed) under another's feet.
inline std::filesystem::path unique_temp_path(const std::string& prefix,
                                              const std::string& suffix = "") {
  return std::filesystem::temp_directory_path() /
         (prefix + "_" + std::to_string(::getpid()) + "_" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix);
}

}  // namespace ssehub::test_support
