// The checks every request passes on its head: host, request rate, route admission.
#include "http/request_admission.hpp"

#include "http/responses.hpp"
#include "http/router.hpp"

#include <string>

namespace ssehub::http {

using boost::asio::ip::tcp;

std::variant<std::size_t, HeadRefusal> admit_request_head(const HttpContext& context,
                                                         const beast_http::request_header<>& head,
                                                         const Target& target,
                                                         std::string_view authority,
                                                         const tcp::endpoint& remote,
                                                         std::string_view allowed_before) {
  if (!authority.empty() && authority != allowed_before && !context.hosts.allows(authority)) {
    context.metrics.reject(RejectReason::HostNotAllowed);
    return HeadRefusal{json_error(beast_http::status::forbidden, "host_not_allowed",
                                  "this server answers to localhost, IP addresses and the names "
                                  "of --allowed-hosts, not to `" + std::string(authority) + "`"),
                       true};
  }
  if (auto wait = context.clients.take_request(remote.address())) {
    context.metrics.reject(RejectReason::RateLimited);
    auto response = json_error(beast_http::status::too_many_requests, "rate_limited",
                               "too many requests from this address; retry after " +
                                   std::to_string(wait->count()) + " s");
    response.set(beast_http::field::retry_after, std::to_string(wait->count()));
    return HeadRefusal{std::move(response), true};
  }
  auto admission =
      context.router.admit(RequestHead{head, target, remote}, context.limits.max_body_bytes);
  if (auto* refusal = std::get_if<Response>(&admission)) return HeadRefusal{std::move(*refusal), false};
  return std::get<std::size_t>(admission);
}

}  // namespace ssehub::http
