#pragma once

#include "http/exchange.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ssehub::http {

using Handler = std::function<void(const ExchangePtr&)>;

// Exact-path routing. Unknown path: the fallback (static files) or 404; known path with
// another method: 405 with Allow; OPTIONS on a known path: the CORS preflight answer.
class Router {
 public:
  // `max_body_bytes`: this route takes bodies up to that size instead of the server-wide
  // limit (batch publishing takes more than a single message).
  void add(beast_http::verb method, std::string path, Handler handler,
           std::optional<std::size_t> max_body_bytes = std::nullopt);
  // The body limit of requests to `path` (raw, without the query): the route's own, or
  // `server_limit`. The session reads a request's header with the largest limit of any
  // route, then holds the body to this one.
  std::size_t body_limit(std::string_view path, std::size_t server_limit) const;
  std::size_t largest_body_limit(std::size_t server_limit) const {
    return std::max(server_limit, largest_route_body_limit_);
  }
  void set_fallback(Handler handler) { fallback_ = std::move(handler); }
  void dispatch(const ExchangePtr& exchange) const;

 private:
  std::map<std::string, std::map<beast_http::verb, Handler>, std::less<>> routes_;
  Handler fallback_;
  std::map<std::string, std::size_t, std::less<>> body_limits_;
  std::size_t largest_route_body_limit_ = 0;
};

}  // namespace ssehub::http
