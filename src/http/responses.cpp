#include "http/responses.hpp"


#include <nlohmann/json.hpp>

namespace ssehub::http {

Response text_response(beast_http::status status, std::string body, std::string_view content_type) {
  Response response{status, 11};
  response.set(beast_http::field::content_type, content_type);
  response.set(beast_http::field::cache_control, "no-cache");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response json_response(beast_http::status status, const nlohmann::json& body) {
  return text_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json");
}

Response json_error(beast_http::status status, std::string_view error, std::string_view detail) {
  return json_response(status, {{"error", error}, {"detail", detail}});
}

Response empty_response(beast_http::status status) {
  Response response{status, 11};
  // A 204 or 304 goes without Content-Length (RFC 9110 §8.6), which every transport ensures.
  if (status != beast_http::status::no_content && status != beast_http::status::not_modified)
    response.prepare_payload();
  return response;
}

Response bodies_over_budget() {
  auto response = json_error(beast_http::status::service_unavailable, "server_busy",
                             "too many request bodies are being received at once; retry shortly");
  response.set(beast_http::field::retry_after, "1");
  return response;
}

std::string body_too_large_detail(std::size_t limit) {
  return "request body exceeds " + std::to_string(limit) + " bytes";
}

}  // namespace ssehub::http
