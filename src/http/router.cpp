#include "http/router.hpp"

#include "http/responses.hpp"

namespace ssehub::http {

namespace {

bool takes_body_by_default(beast_http::verb method) {
  return method == beast_http::verb::post || method == beast_http::verb::put ||
         method == beast_http::verb::patch;
}

template <class Methods>
std::string allowed_methods(const Methods& methods) {
  std::string allow;
  for (const auto& [verb, unused] : methods) {
    if (!allow.empty()) allow += ", ";
    allow += std::string(beast_http::to_string(verb));
    if (verb == beast_http::verb::get && !methods.contains(beast_http::verb::head)) allow += ", HEAD";
  }
  return allow;
}

}  // namespace

void Router::add(beast_http::verb method, std::string path, Handler handler, RouteOptions options) {
  routes_[std::move(path)][method] = Route{std::move(handler), std::move(options)};
}

const Router::Route* Router::find(const Methods& methods, beast_http::verb method) const {
  if (auto route = methods.find(method); route != methods.end()) return &route->second;
  if (method == beast_http::verb::head) return find(methods, beast_http::verb::get);
  return nullptr;
}

Response Router::not_allowed(const Methods& methods, const RequestHead& request) const {
  const std::string allow = allowed_methods(methods);
  Response response =
      json_error(beast_http::status::method_not_allowed, "method_not_allowed",
                 std::string(request.raw.method_string()) + " is not allowed on " +
                     request.target.path + "; allowed: " + allow);
  response.set(beast_http::field::allow, allow);
  return response;
}

std::variant<std::size_t, Response> Router::admit(const RequestHead& head,
                                                  std::size_t server_limit) const {
  const auto method = head.raw.method();
  const auto methods = routes_.find(head.target.path);
  if (methods == routes_.end()) {
    if (fallback_ && (method == beast_http::verb::get || method == beast_http::verb::head))
      return std::size_t{0};
    return json_error(beast_http::status::not_found, "not_found",
                      "no route for " + std::string(head.raw.method_string()) + " " +
                          head.target.path);
  }
  if (method == beast_http::verb::options) return std::size_t{0};
  const Route* route = find(methods->second, method);
  if (!route) return not_allowed(methods->second, head);
  if (route->options.guard) {
    if (auto refusal = route->options.guard(head)) return std::move(*refusal);
  }
  return route->options.max_body_bytes.value_or(takes_body_by_default(method) ? server_limit : 0);
}

void Router::dispatch(const ExchangePtr& exchange) const {
  const auto& request = exchange->request();
  const auto methods = routes_.find(request.target.path);
  if (methods == routes_.end()) {
    if (fallback_) return fallback_(exchange);
    return exchange->respond(json_error(beast_http::status::not_found, "not_found",
                                        "no route for " + request.target.path));
  }
  const auto method = request.raw.method();
  if (const Route* route = find(methods->second, method)) return route->handler(exchange);
  if (method == beast_http::verb::options) {
    const std::string allow = allowed_methods(methods->second);
    Response response = empty_response(beast_http::status::no_content);
    response.set(beast_http::field::allow, allow + ", OPTIONS");
    response.set(beast_http::field::access_control_allow_methods, allow + ", OPTIONS");
    response.set(beast_http::field::access_control_allow_headers,
                 "Content-Type, Last-Event-ID, Authorization, X-Publish-Token, Idempotency-Key");
    response.set(beast_http::field::access_control_max_age, "600");
    return exchange->respond(std::move(response));
  }
  exchange->respond(not_allowed(methods->second, request.head()));
}

}  // namespace ssehub::http
