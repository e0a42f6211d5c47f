#include "http/request_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ssehub::http {
namespace {

namespace beast = boost::beast;

// What a connection's bytes turned into: the requests read whole, then the refusal if any.
struct Outcome {
  std::vector<RawRequest> requests;
  std::optional<Refusal> refusal;
  std::size_t largest_buffer = 0;  // the most bytes the reader left waiting in the buffer
  std::string left_over;           // unread bytes after the last complete request
};

// Feeds `bytes` to a reader in pieces of `piece` bytes, as reads from a socket would, and
// reads every body with `body_limit`.
Outcome read_all(std::string_view bytes, std::size_t piece = 16 * 1024, std::size_t body_limit = 1024,
                 RequestLimits limits = {.max_header_bytes = 1024, .max_framing_bytes = 512}) {
  RequestReader reader(limits);
  beast::flat_buffer buffer;
  Outcome outcome;
  std::size_t fed = 0;
  for (;;) {
    const auto progress = reader.parse(buffer);
    if (progress == RequestReader::Progress::HeadReady) {
      reader.read_body(body_limit);
      continue;
    }
    if (progress == RequestReader::Progress::Complete) {
      outcome.requests.push_back(reader.take_request());
      continue;
    }
    if (progress == RequestReader::Progress::Refused) {
      outcome.refusal = reader.refusal();
      break;
    }
    outcome.largest_buffer = std::max(outcome.largest_buffer, buffer.size());
    if (fed == bytes.size()) break;
    const std::size_t n = std::min(piece, bytes.size() - fed);
    const auto space = buffer.prepare(n);
    std::memcpy(space.data(), bytes.data() + fed, n);
    buffer.commit(n);
    fed += n;
  }
  outcome.left_over = std::string(static_cast<const char*>(buffer.data().data()), buffer.size()) +
                      std::string(bytes.substr(fed));
  return outcome;
}

// Both whole and one byte at a time: framing must not depend on how TCP cut the bytes.
std::vector<Outcome> read_both_ways(std::string_view bytes, std::size_t body_limit = 1024) {
  return {read_all(bytes, 1 << 20, body_limit), read_all(bytes, 1, body_limit)};
}

void expect_refused(std::string_view bytes, beast_http::status status, std::string_view error = {}) {
  for (const auto& outcome : read_both_ways(bytes)) {
    ASSERT_TRUE(outcome.refusal) << testing::PrintToString(std::string(bytes));
    EXPECT_EQ(outcome.refusal->status, status) << outcome.refusal->detail;
    if (!error.empty()) {
      EXPECT_EQ(outcome.refusal->error, error);
    }
    EXPECT_TRUE(outcome.requests.empty()) << "a request was read before the refusal";
  }
}

TEST(RequestReaderTest, ReadsPipelinedRequestsOneAtATime) {
  const std::string bytes =
      "POST /v2/message?username=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (const auto& outcome : read_both_ways(bytes)) {
    ASSERT_FALSE(outcome.refusal) << outcome.refusal->detail;
    ASSERT_EQ(outcome.requests.size(), 2u);
    EXPECT_EQ(outcome.requests[0].body(), "hello");
    EXPECT_EQ(outcome.requests[1].target(), "/healthz");
    EXPECT_EQ(outcome.left_over, "");
  }
}

TEST(RequestReaderTest, StopsAfterTheHeadUntilTheBodyIsAllowed) {
  RequestReader reader({});
  beast::flat_buffer buffer;
  const std::string bytes =
      "POST /v2/message HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody";
  auto space = buffer.prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
  ASSERT_EQ(reader.parse(buffer), RequestReader::Progress::HeadReady);
  EXPECT_EQ(buffer.size(), 4u) << "the body was read before the head was judged";
  EXPECT_EQ(reader.head().target(), "/v2/message");
  EXPECT_TRUE(reader.expects_body());
  ASSERT_TRUE(reader.read_body(4));
  ASSERT_EQ(reader.parse(buffer), RequestReader::Progress::Complete);
  EXPECT_EQ(reader.take_request().body(), "body");
}

TEST(RequestReaderTest, ReadsAChunkedBodyWithExtensionsWithinTheLimit) {
  const std::string bytes =
      "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  for (const auto& outcome : read_both_ways(bytes)) {
    ASSERT_FALSE(outcome.refusal) << outcome.refusal->detail;
    ASSERT_EQ(outcome.requests.size(), 1u);
    EXPECT_EQ(outcome.requests[0].body(), "hello world");
  }
}

TEST(RequestReaderTest, TrailerFieldsAreDroppedNotMergedIntoTheHead) {
  // A trailer would otherwise change a field after the head was judged.
  const std::string bytes =
      "PUT /v4/report HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
      "Content-Type: text/plain\r\nAuthorization: Bearer smuggled\r\n\r\n";
  for (const auto& outcome : read_both_ways(bytes)) {
    ASSERT_FALSE(outcome.refusal) << outcome.refusal->detail;
    ASSERT_EQ(outcome.requests.size(), 1u);
    const auto& request = outcome.requests[0];
    EXPECT_EQ(request.count(beast_http::field::content_type), 1u);
    EXPECT_EQ(request[beast_http::field::content_type], "application/json");
    EXPECT_EQ(request.count(beast_http::field::authorization), 0u);
  }
}

TEST(RequestReaderTest, EndlessChunkExtensionIsRefusedAtTheFramingLimit) {
  std::string bytes = "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1;a=";
  bytes += std::string(1 << 20, 'x');  // never ends
  for (std::size_t piece : {std::size_t{1 << 20}, std::size_t{4096}, std::size_t{1}}) {
    const auto outcome = read_all(bytes, piece);
    ASSERT_TRUE(outcome.refusal);
    EXPECT_EQ(outcome.refusal->status, beast_http::status::bad_request);
    EXPECT_NE(outcome.refusal->detail.find("512"), std::string::npos) << outcome.refusal->detail;
    // What waited in the buffer stayed near the limit, not the megabyte sent.
    if (piece < (1 << 20)) {
      EXPECT_LE(outcome.largest_buffer, 512u + piece) << piece;
    }
  }
}

TEST(RequestReaderTest, AChunkExtensionMayNotHoldAControlCharacterEvenQuoted) {
  // Beast lets a quoted string run across a line end; a proxy that ends the chunk line at the
  // CRLF would frame the rest as another request.
  for (const std::string& extension : std::vector<std::string>{"a=\"x\ny\"", "a=\"x\r\ny\"", std::string("a=\"x\0y\"", 7)}) {
    expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                       extension + "\r\nx\r\n0\r\n\r\n",
                   beast_http::status::bad_request);
  }
  const auto fine = read_all("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "1;a=\"x\ty\"\r\nx\r\n0\r\n\r\n");
  EXPECT_FALSE(fine.refusal);
  EXPECT_EQ(fine.requests.size(), 1u);
}

TEST(RequestReaderTest, LeadingZerosAndManySmallChunksCountAsFraming) {
  std::string zeros = "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  zeros += std::string(100000, '0') + "1\r\nx\r\n0\r\n\r\n";
  for (std::size_t piece : {std::size_t{1 << 20}, std::size_t{100}}) {
    const auto outcome = read_all(zeros, piece);
    ASSERT_TRUE(outcome.refusal);
    EXPECT_EQ(outcome.refusal->status, beast_http::status::bad_request);
  }
  // Each chunk's size line and extension are small, but together they pass the limit.
  std::string chunks = "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 200; ++i) chunks += "1;ext=abcdefgh\r\ny\r\n";
  chunks += "0\r\n\r\n";
  const auto outcome = read_all(chunks, 1 << 20, 100000);
  ASSERT_TRUE(outcome.refusal);
  EXPECT_EQ(outcome.refusal->status, beast_http::status::bad_request);
  EXPECT_TRUE(outcome.requests.empty());
}

TEST(RequestReaderTest, EndlessTrailersAreRefusedAtTheFramingLimit) {
  std::string bytes = "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
  for (int i = 0; i < 10000; ++i) bytes += "X-Trailer-" + std::to_string(i) + ": v\r\n";
  const auto outcome = read_all(bytes, 1000);
  ASSERT_TRUE(outcome.refusal);
  EXPECT_EQ(outcome.refusal->status, beast_http::status::bad_request);
  EXPECT_LE(outcome.largest_buffer, 512u + 1000);
}

TEST(RequestReaderTest, TransferEncodingThatDoesNotEndInChunkedIs400) {
  // RFC 9112 §6.3: the body's end cannot be known; reading none would run it as a request.
  for (std::string coding : {"identity", "chunked, identity", "xchunked", "chunked;q=1", "gzip",
                             "chunked,", ", chunked", "chunked\r\nTransfer-Encoding: identity"}) {
    expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: " + coding +
                       "\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
                   beast_http::status::bad_request);
  }
}

TEST(RequestReaderTest, CodingsBeforeChunkedAre501) {
  for (std::string coding : {"gzip, chunked", "deflate,chunked", "identity, chunked"}) {
    expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: " + coding +
                       "\r\n\r\n0\r\n\r\n",
                   beast_http::status::not_implemented, "not_implemented");
  }
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 beast_http::status::not_implemented);
}

TEST(RequestReaderTest, ChunkedInHttp10IsFaultyFraming) {
  expect_refused("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 beast_http::status::bad_request);
}

TEST(RequestReaderTest, ConflictingLengthsAre400) {
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 beast_http::status::bad_request);
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Length: 3\r\n\r\n0\r\n\r\n",
                 beast_http::status::bad_request);
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                 beast_http::status::bad_request);
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                 beast_http::status::bad_request);
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: +3\r\n\r\nabc",
                 beast_http::status::bad_request);
}

TEST(RequestReaderTest, HostMustBeThereOnceInHttp11AndValid) {
  expect_refused("GET / HTTP/1.1\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET / HTTP/1.1\r\nHost: user@host\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET / HTTP/1.1\r\nHost: host:99999\r\n\r\n", beast_http::status::bad_request);
  for (std::string host : {"localhost", "localhost:3000", "127.0.0.1:1", "[::1]:3000", "example.com:"}) {
    const auto outcome = read_all("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    EXPECT_FALSE(outcome.refusal) << host;
    EXPECT_EQ(outcome.requests.size(), 1u) << host;
  }
  EXPECT_EQ(read_all("GET / HTTP/1.0\r\n\r\n").requests.size(), 1u);  // 1.0 needs none
}

TEST(RequestReaderTest, OnlyHttp10And11AreSpoken) {
  expect_refused("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", beast_http::status::http_version_not_supported);
  expect_refused("GET / HTTP/1.2\r\nHost: localhost\r\n\r\n", beast_http::status::http_version_not_supported);
}

TEST(RequestReaderTest, TargetsArePathsAbsoluteUrlsOrAsteriskForOptions) {
  for (std::string target : {"/v2/sse?username=a", "http://localhost:3000/v2/sse?username=a",
                             "HTTPS://localhost", "http://[::1]/x"}) {
    const auto outcome = read_all("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_FALSE(outcome.refusal) << target;
  }
  EXPECT_FALSE(read_all("OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n").refusal);
  expect_refused("GET * HTTP/1.1\r\nHost: localhost\r\n\r\n", beast_http::status::bad_request);
  expect_refused("CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET ftp://localhost/x HTTP/1.1\r\nHost: localhost\r\n\r\n", beast_http::status::bad_request);
  expect_refused("GET http://user:pw@localhost/x HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 beast_http::status::bad_request);
}

TEST(RequestReaderTest, ALongRequestLineIs414AndLongHeadersAre431) {
  expect_refused("GET /" + std::string(100000, 'a') + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 beast_http::status::uri_too_long, "uri_too_long");
  expect_refused("GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + std::string(2000, 'p') + "\r\n\r\n",
                 beast_http::status::request_header_fields_too_large, "headers_too_large");
}

TEST(RequestReaderTest, BodiesOverTheLimitAre413) {
  expect_refused("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1025\r\n\r\n",
                 beast_http::status::payload_too_large, "body_too_large");
  std::string chunked = "POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  expect_refused(chunked, beast_http::status::payload_too_large, "body_too_large");
}

TEST(RequestReaderTest, ANoBodyRouteRefusesABodyOnItsLength) {
  for (const auto& outcome :
       {read_all("GET /v2/sse HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n0123456789", 1 << 20, 0)}) {
    ASSERT_TRUE(outcome.refusal);
    EXPECT_EQ(outcome.refusal->status, beast_http::status::payload_too_large);
  }
  EXPECT_EQ(read_all("GET /v2/sse HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 1 << 20, 0)
                .requests.size(),
            1u);
}

}  // namespace
}  // namespace ssehub::http
