#pragma once

namespace ssehub::config {

// This build: the project's version and the git commit it was built from ("unknown" outside
// a checkout), written at build time by cmake/version.cmake.
extern const char* const kVersion;
extern const char* const kCommit;

}  // namespace ssehub::config
