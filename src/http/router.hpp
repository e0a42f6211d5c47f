#pragma once

#include "http/exchange.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ssehub::http {

using Handler = std::function<void(const ExchangePtr&)>;
// Decides on the request head alone (no body yet) whether the caller may use the route:
// nullopt to go on, or the answer that refuses it.
using Guard = std::function<std::optional<Response>(const RequestHead& head)>;

struct RouteOptions {
  // The largest body the route takes; unset: the server-wide limit for POST and PUT, none
  // (0) for the other methods.
  std::optional<std::size_t> max_body_bytes;
  // Run before a body byte is buffered: a caller without the right credentials cannot make
  // the server hold its body.
  Guard guard;
};

// Exact routing on the raw path (percent-escapes are not decoded: `/v2%2Fmessage` is not
// `/v2/message`). Unknown path: the fallback (static files) for GET and HEAD, else 404; known
// path with another method: 405 with Allow; HEAD: the GET handler, answered without a body;
// OPTIONS on a known path: the CORS preflight answer.
class Router {
 public:
  void add(beast_http::verb method, std::string path, Handler handler, RouteOptions options = {});
  void set_fallback(Handler handler) { fallback_ = std::move(handler); }

  // On the request head: the body limit to read the request with, or the answer that
  // refuses it before its body is read. `server_limit` is --max-body-bytes.
  std::variant<std::size_t, Response> admit(const RequestHead& head, std::size_t server_limit) const;
  void dispatch(const ExchangePtr& exchange) const;

 private:
  struct Route {
    Handler handler;
    RouteOptions options;
  };
  using Methods = std::map<beast_http::verb, Route>;
  const Route* find(const Methods& methods, beast_http::verb method) const;
  Response not_allowed(const Methods& methods, const RequestHead& request) const;

  std::map<std::string, Methods, std::less<>> routes_;
  Handler fallback_;
};

}  // namespace ssehub::http
