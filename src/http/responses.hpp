#pragma once

#include "http/request.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace ssehub::http {

// `{"error": CODE, "detail": SENTENCE}`: every refusal ssehub sends has this shape.
Response json_error(beast_http::status status, std::string_view error, std::string_view detail);
Response json_response(beast_http::status status, const nlohmann::json& body);
Response empty_response(beast_http::status status);
Response text_response(beast_http::status status, std::string body, std::string_view content_type);
// 503 `server_busy` with Retry-After: a request body would take the bytes buffered for all
// request bodies together over their bound (BodyBudget), on either protocol.
Response bodies_over_budget();
// The detail of a 413 `body_too_large`, one sentence on either protocol.
std::string body_too_large_detail(std::size_t limit);

}  // namespace ssehub::http
