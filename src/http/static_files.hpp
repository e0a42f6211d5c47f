#pragma once

#include "http/router.hpp"

#include <string>
#include <unordered_map>

namespace ssehub::http {

// The built web UI, read into memory once at start-up so serving it never touches the disk
// on an I/O thread. Hashed files under /assets/ are cached for a year; everything else is
// revalidated. A page navigation to an unknown path gets index.html (client-side routing);
// anything else unknown (a file name, a JSON request, an API path) gets the JSON 404.
class StaticFiles {
 public:
  // Loads the directory if it exists; returns the number of files loaded. A symbolic link is
  // served under its own name when it points to a file inside the root, and skipped (with a
  // warning) otherwise.
  std::size_t load(const std::string& configured_root);
  void serve(const ExchangePtr& exchange) const;

 private:
  struct File {
    std::string content_type;
    std::string body;
  };
  std::unordered_map<std::string, File> files_;
};

}  // namespace ssehub::http
