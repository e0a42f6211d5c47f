#include "http/response_head.hpp"

#include "http/responses.hpp"

#include <gtest/gtest.h>

namespace ssehub::http {
namespace {

std::string head_of(const Response& response, bool keep_alive) {
  std::string out = "left over from the last answer";
  write_head(response, keep_alive, out);
  return out;
}

TEST(ResponseHeadTest, WritesTheFieldsInOrderThenServer) {
  Response response = text_response(beast_http::status::ok, "hello", "text/plain");
  response.set("X-Event-Id", "7");
  EXPECT_EQ(head_of(response, true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
            "Content-Length: 5\r\nX-Event-Id: 7\r\nServer: ssehub\r\n\r\n");
}

TEST(ResponseHeadTest, ClosingAnswerSaysConnectionCloseOnceAtTheEnd) {
  Response response = empty_response(beast_http::status::ok);
  response.set(beast_http::field::connection, "keep-alive");
  response.set(beast_http::field::server, "someone else");
  EXPECT_EQ(head_of(response, false),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nServer: ssehub\r\nConnection: close\r\n\r\n");
  // Kept alive, a handler's Connection field stays; Server is always ssehub's.
  EXPECT_EQ(head_of(response, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nServer: ssehub\r\n\r\n");
}

TEST(ResponseHeadTest, NoContentAndNotModifiedGoWithoutContentLength) {
  for (auto status : {beast_http::status::no_content, beast_http::status::not_modified}) {
    Response response{status, 11};
    response.content_length(0);
    response.set("X-Event-Id", "3");
    const std::string head = head_of(response, true);
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    EXPECT_NE(head.find("X-Event-Id: 3\r\nServer: ssehub\r\n\r\n"), std::string::npos) << head;
  }
  EXPECT_EQ(head_of(empty_response(beast_http::status::no_content), true),
            "HTTP/1.1 204 No Content\r\nServer: ssehub\r\n\r\n");
}

}  // namespace
}  // namespace ssehub::http
