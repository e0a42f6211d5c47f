#include "api/validation.hpp"

#include "http/responses.hpp"

namespace ssehub::api {

namespace beast_http = boost::beast::http;

std::variant<std::string, domain::UsernameError> username_of(const http::Target& target,
                                                             const domain::Limits& limits) {
  std::string username = target.param("username").value_or("");
  if (auto error = domain::check_username(username, limits)) return std::move(*error);
  return username;
}

http::Response Refusal::response() const {
  return http::json_error(status, error, detail);
}

Refusal refusal_for(const domain::UsernameError& error) {
  using F = domain::UsernameFault;
  switch (error.fault) {
    case F::Empty:
      // The v1-v3 routes take the username from the URL: say where it is missing.
      return {beast_http::status::bad_request, "missing_username",
              "the query parameter `username` is required and must not be empty"};
    case F::TooLong: return {beast_http::status::bad_request, "username_too_long", error.message};
    case F::NotUtf8:
    case F::ControlCharacter:
      return {beast_http::status::bad_request, "invalid_username", error.message};
  }
  return {beast_http::status::bad_request, "invalid_username", error.message};
}

Refusal refusal_for(const domain::MessageError& error) {
  using F = domain::MessageFault;
  switch (error.fault) {
    case F::Empty:
      return {beast_http::status::bad_request, "empty_message",
              "the message body is empty; EventSource drops events without data"};
    case F::NotUtf8:
      return {beast_http::status::bad_request, "invalid_utf8",
              "the message body must be UTF-8 text"};
    case F::TooLong:
      return {beast_http::status::payload_too_large, "body_too_large", error.message};
    case F::EventTooLarge:
      return {beast_http::status::payload_too_large, "event_too_large", error.message};
  }
  return {beast_http::status::bad_request, "invalid_message", error.message};
}

}  // namespace ssehub::api
