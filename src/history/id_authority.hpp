#pragma once

#include <cstdint>
#include <string>

namespace ssehub::history {

// Who issues ids when history does not number events itself: a cluster bus, whose events
// this node applies some time after another node accepted them. A resume from an id past
// the end of this node's copy then waits for it if the authority may have issued it, and
// gets `reset` otherwise.
class IdAuthority {
 public:
  virtual ~IdAuthority() = default;
  // Whether `id` may have been issued on `stream`. May block (it may ask a broker): History
  // asks outside its locks, on its reader thread where the log has one.
  virtual bool may_have_issued(const std::string& stream, std::uint64_t id) = 0;
};

}  // namespace ssehub::history
