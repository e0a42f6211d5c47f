#include "http/router.hpp"

#include "http/responses.hpp"

namespace ssehub::http {

void Router::add(beast_http::verb method, std::string path, Handler handler,
                 std::optional<std::size_t> max_body_bytes) {
  if (max_body_bytes) {
    body_limits_[path] = *max_body_bytes;
    largest_route_body_limit_ = std::max(largest_route_body_limit_, *max_body_bytes);
  }
  routes_[std::move(path)][method] = std::move(handler);
}

std::size_t Router::body_limit(std::string_view path, std::size_t server_limit) const {
  const auto limit = body_limits_.find(path);
  return limit == body_limits_.end() ? server_limit : limit->second;
}

void Router::dispatch(const ExchangePtr& exchange) const {
  const auto& request = exchange->request();
  const auto route = routes_.find(request.target.path);
  if (route == routes_.end()) {
    if (fallback_) return fallback_(exchange);
    return exchange->respond(json_error(beast_http::status::not_found, "not_found",
                                        "no route for " + request.target.path));
  }
  const auto method = request.raw.method();
  if (auto handler = route->second.find(method); handler != route->second.end())
    return handler->second(exchange);

  std::string allow;
  for (const auto& [verb, unused] : route->second) {
    if (!allow.empty()) allow += ", ";
    allow += std::string(beast_http::to_string(verb));
  }
  if (method == beast_http::verb::options) {
    Response response = empty_response(beast_http::status::no_content);
    response.set(beast_http::field::allow, allow + ", OPTIONS");
    response.set(beast_http::field::access_control_allow_methods, allow + ", OPTIONS");
    response.set(beast_http::field::access_control_allow_headers,
                 "Content-Type, Last-Event-ID, Authorization");
    response.set(beast_http::field::access_control_max_age, "600");
    return exchange->respond(std::move(response));
  }
  Response response =
      json_error(beast_http::status::method_not_allowed, "method_not_allowed",
                 std::string(request.raw.method_string()) + " is not allowed on " +
                     request.target.path + "; allowed: " + allow);
  response.set(beast_http::field::allow, allow);
  exchange->respond(std::move(response));
}

}  // namespace ssehub::http
