#include "api/ops_api.hpp"

#include "http/responses.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::api {

namespace beast_http = boost::beast::http;

void OpsApi::register_routes(http::Router& router) {
  router.add(beast_http::verb::get, "/healthz", [](const http::ExchangePtr& exchange) {
    exchange->respond(http::json_response(beast_http::status::ok, {{"status", "ok"}}));
  });
  router.add(beast_http::verb::get, "/readyz", [this](const http::ExchangePtr& exchange) {
    nlohmann::json checks = nlohmann::json::object();
    bool ready = true;
    for (const auto& [name, check] : checks_) {
      const bool ok = check();
      checks[name] = ok ? "ok" : "unavailable";
      ready = ready && ok;
    }
    // A 503 here is the probe's answer, not a refused request.
    exchange->respond(http::json_response(
                          ready ? beast_http::status::ok : beast_http::status::service_unavailable,
                          {{"status", ready ? "ready" : "not_ready"}, {"checks", checks}}),
                      http::Exchange::Outcome::NotARefusal);
  });
  router.add(beast_http::verb::get, "/metrics", [this](const http::ExchangePtr& exchange) {
    std::string text = metrics_.render();
    text += "# HELP ssehub_ready Whether each readiness check of /readyz passes (1) or not (0).\n"
            "# TYPE ssehub_ready gauge\n";
    for (const auto& [name, check] : checks_)
      text += "ssehub_ready{check=\"" + name + "\"} " + (check() ? "1" : "0") + "\n";
    exchange->respond(http::text_response(beast_http::status::ok, std::move(text),
                                          "text/plain; version=0.0.4; charset=utf-8"));
  });
}

}  // namespace ssehub::api
