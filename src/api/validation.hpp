#pragma once

#include "domain/validator.hpp"
#include "http/request.hpp"

#include <string>
#include <variant>

// How the v1-v3 handlers apply the domain's rules to what a request carries, and how they
// answer what the domain refuses.
namespace ssehub::api {

// The `username` query parameter, or why the domain refuses it (absent counts as empty).
std::variant<std::string, domain::UsernameError> username_of(const http::Target& target,
                                                             const domain::Limits& limits);

// A refusal as HTTP words it: a status, an error code and a detail sentence.
struct Refusal {
  http::beast_http::status status;
  std::string error;
  std::string detail;
  // `{"error": ..., "detail": ...}` with that status.
  http::Response response() const;
};

// 400 missing_username, username_too_long or invalid_username.
Refusal refusal_for(const domain::UsernameError& error);
// For the body of POST /v2|v3/message: 400 empty_message or invalid_utf8, 413 body_too_large
// or event_too_large.
Refusal refusal_for(const domain::MessageError& error);

}  // namespace ssehub::api
