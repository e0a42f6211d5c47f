#include "api/validation.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace ssehub::api {
namespace {

namespace beast_http = boost::beast::http;

constexpr domain::Limits kLimits{
    .max_username_bytes = 256, .max_message_bytes = 65536, .max_event_bytes = 61440};

http::Target with_username(std::string name) {
  return http::Target{.path = "/v2/sse", .query = {{"username", std::move(name)}}};
}

domain::UsernameError username_error(const http::Target& target) {
  auto username = username_of(target, kLimits);
  EXPECT_TRUE(std::holds_alternative<domain::UsernameError>(username));
  return std::get<domain::UsernameError>(std::move(username));
}

TEST(UsernameParameter, IsTakenFromTheQueryOnceTheDomainAcceptsIt) {
  const auto username = username_of(with_username("al ice"), kLimits);
  ASSERT_TRUE(std::holds_alternative<std::string>(username));
  EXPECT_EQ(std::get<std::string>(username), "al ice");
}

TEST(UsernameParameter, AbsentOrEmptyIsAMissingUsernameNamingTheQueryParameter) {
  for (const auto& target : {http::Target{.path = "/v2/sse"}, with_username("")}) {
    const auto refusal = refusal_for(username_error(target));
    EXPECT_EQ(refusal.status, beast_http::status::bad_request);
    EXPECT_EQ(refusal.error, "missing_username");
    EXPECT_EQ(refusal.detail, "the query parameter `username` is required and must not be empty");
  }
}

TEST(UsernameRefusal, EachDomainErrorIsA400WithItsCodeAndTheDomainsWords) {
  struct Case {
    std::string name, error, detail;
  } cases[] = {
      {std::string(257, 'u'), "username_too_long", "username is 257 bytes; the limit is 256"},
      {"al\xC3\x28", "invalid_username", "username must be UTF-8 text without control characters"},
      {"al\tice", "invalid_username", "username must be UTF-8 text without control characters"},
  };
  for (const auto& c : cases) {
    const auto refusal = refusal_for(username_error(with_username(c.name)));
    EXPECT_EQ(refusal.status, beast_http::status::bad_request) << c.error;
    EXPECT_EQ(refusal.error, c.error);
    EXPECT_EQ(refusal.detail, c.detail);
  }
}

TEST(MessageRefusal, EmptyAndNotUtf8Are400sThatNameTheBody) {
  const auto empty = refusal_for(*domain::check_message("", kLimits));
  EXPECT_EQ(empty.status, beast_http::status::bad_request);
  EXPECT_EQ(empty.error, "empty_message");
  EXPECT_EQ(empty.detail, "the message body is empty; EventSource drops events without data");
  const auto not_text = refusal_for(*domain::check_message("\xFF", kLimits));
  EXPECT_EQ(not_text.status, beast_http::status::bad_request);
  EXPECT_EQ(not_text.error, "invalid_utf8");
  EXPECT_EQ(not_text.detail, "the message body must be UTF-8 text");
}

TEST(MessageRefusal, TooLargeForTheBodyOrForClientsIsA413) {
  const auto too_long = refusal_for(*domain::check_message(std::string(65537, 'x'), kLimits));
  EXPECT_EQ(too_long.status, beast_http::status::payload_too_large);
  EXPECT_EQ(too_long.error, "body_too_large");
  EXPECT_EQ(too_long.detail, "the message exceeds 65536 bytes");
  const auto error = *domain::check_message(std::string(61408, 'x'), kLimits);
  const auto too_large = refusal_for(error);
  EXPECT_EQ(too_large.status, beast_http::status::payload_too_large);
  EXPECT_EQ(too_large.error, "event_too_large");
  EXPECT_EQ(too_large.detail, error.message);
}

TEST(Refusal, IsAnsweredAsAJsonErrorWithItsStatus) {
  const auto response = refusal_for(username_error(with_username(""))).response();
  EXPECT_EQ(response.result(), beast_http::status::bad_request);
  const auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["error"], "missing_username");
  EXPECT_EQ(body["detail"], "the query parameter `username` is required and must not be empty");
}

}  // namespace
}  // namespace ssehub::api
