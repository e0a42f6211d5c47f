#pragma once

#include "http/router.hpp"

#include <string>
#include <unordered_map>

namespace ssehub::http {

// The built web UI, read into memory once at start-up so serving it never touches the disk
// on an I/O thread. Hashed files under /assets/ are cached for a year; everything else is
// revalidated. Unknown non-API paths get index.html (client-side routing).
class StaticFiles {
 public:
  // Loads the directory if it exists; returns the number of files loaded.
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
