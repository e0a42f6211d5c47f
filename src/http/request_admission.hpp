// The checks every request passes on its head, over HTTP/1.1 and HTTP/2 alike.
#pragma once

#include "http/http_session.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <string_view>
#include <variant>

namespace ssehub::http {

// A request refused on its head; `counted`: already counted in ssehub_requests_rejected_total.
struct HeadRefusal {
  Response response;
  bool counted = false;
};
// The checks every request passes on its head, before any of its body, whatever the protocol:
// the host (`authority`, from Host, :authority or an absolute-form target) is one this server
// answers to, the address is within its request rate, and the route admits the caller. The
// body limit to read the request with, or the refusal. `allowed_before`: an authority this
// connection was already allowed, not checked again (a connection's requests repeat theirs).
std::variant<std::size_t, HeadRefusal> admit_request_head(const HttpContext& context,
                                                         const beast_http::request_header<>& head,
                                                         const Target& target,
                                                         std::string_view authority,
                                                         const boost::asio::ip::tcp::endpoint& remote,
                                                         std::string_view allowed_before = {});

}  // namespace ssehub::http
