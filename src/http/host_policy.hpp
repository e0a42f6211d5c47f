#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ssehub::http {

// Which Host a server without authentication answers to: the defence against DNS rebinding,
// where a web page on another site points a name of its own at 127.0.0.1 and, as far as the
// browser can tell, reads and publishes on its own origin. Such a request names the
// attacker's host, never an IP address or localhost, so those are always allowed; other
// names only when listed (--allowed-hosts; `*` allows any).
class HostPolicy {
 public:
  // `any`: every Host is answered (authentication is on, so a rebound page has no
  // credentials to use).
  HostPolicy(bool any, std::vector<std::string> allowed_names);

  // `authority` as in a Host header or an absolute-form target: host[:port].
  bool allows(std::string_view authority) const;

 private:
  bool any_;
  std::vector<std::string> allowed_names_;  // lower case
};

}  // namespace ssehub::http
