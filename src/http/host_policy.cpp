#include "http/host_policy.hpp"

#include "http/request.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>

namespace ssehub::http {

HostPolicy::HostPolicy(bool any, std::vector<std::string> allowed_names)
    : any_(any || std::find(allowed_names.begin(), allowed_names.end(), "*") != allowed_names.end()),
      allowed_names_(std::move(allowed_names)) {}

bool HostPolicy::allows(std::string_view authority) const {
  if (any_) return true;
  const auto parsed = parse_authority(authority);
  if (!parsed) return false;
  if (parsed->ip_literal) return true;
  std::string_view host = parsed->host;
  if (host.ends_with('.')) host.remove_suffix(1);  // `localhost.` is localhost
  // RFC 6761: localhost and every name under it resolve to loopback.
  if (boost::beast::iequals(host, "localhost")) return true;
  if (host.size() > 10 && boost::beast::iequals(host.substr(host.size() - 10), ".localhost"))
    return true;
  return std::any_of(allowed_names_.begin(), allowed_names_.end(),
                     [&](const std::string& name) { return boost::beast::iequals(name, host); });
}

}  // namespace ssehub::http
