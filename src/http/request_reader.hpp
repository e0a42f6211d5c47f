#pragma once

#include "http/request.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssehub::http {

struct RequestLimits {
  std::size_t max_header_bytes = 8 * 1024;  // request line and header fields
  // Chunk-size lines, chunk extensions and trailer fields of one request together: bytes a
  // client sends that are neither head nor body still count against a limit.
  std::size_t max_framing_bytes = 8 * 1024;
};

// Why a request cannot be served: its answer. Every refusal ends the connection, since after
// faulty framing nobody can tell where the next request would start.
struct Refusal {
  beast_http::status status = beast_http::status::bad_request;
  std::string error;
  std::string detail;
};

// The fields of a head that reading and admitting it look at, found in one pass over its
// fields when the head is read: Beast finds a field by comparing names as text, and repeated
// look-ups cost a tenth of a publish. Views into the head, valid until take_request().
struct HeadFields {
  std::size_t hosts = 0;
  std::string_view host;  // the first Host field
  std::size_t content_lengths = 0;
  std::size_t transfer_encodings = 0;
  std::size_t origins = 0;
  std::string_view origin;  // the first Origin field, empty when none
  std::size_t expects = 0;
  std::string_view expect;  // the first Expect field, empty when none
};

// Reads HTTP/1.1 requests from the bytes of one connection, one at a time: Beast's parser,
// plus the framing rules of RFC 9112 that it leaves to the caller, and a limit on every byte.
// No I/O: the caller reads into a buffer and calls parse() (the same code serves the session,
// the fuzz target and the framing probe of the differential test).
//
//   NeedMore   read more bytes into the buffer and call parse() again.
//   HeadReady  the head is read and its framing checked (once per request). Decide whether to
//              serve the request (routing, authorisation) before a body byte is buffered; then
//              read_body(limit) and parse() again, or refuse without reading it.
//   Complete   take_request(); the buffer keeps what follows (a pipelined request).
//   Refused    refusal() says why; nothing more is read.
class RequestReader {
 public:
  enum class Progress { NeedMore, HeadReady, Complete, Refused };

  explicit RequestReader(RequestLimits limits);

  Progress parse(boost::beast::flat_buffer& input);

  // After HeadReady: the head so far (no body).
  const RawRequest& head() const { return parser_->get(); }
  const HeadFields& head_fields() const { return head_fields_; }
  // The body announced by the head: Content-Length > 0, or chunked.
  bool expects_body() const;
  bool chunked() const { return parser_->chunked(); }
  std::optional<std::uint64_t> content_length() const {
    const auto length = parser_->content_length();
    return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
  }
  // Reads a body of up to `limit` bytes. A Content-Length above it is refused at once:
  // returns false, and parse() then answers Refused.
  bool read_body(std::size_t limit);
  std::size_t body_bytes() const { return parser_->get().body().size(); }

  // After Complete: the request, body included, without trailer fields. Resets the reader.
  RawRequest take_request();
  const Refusal& refusal() const { return refusal_; }
  // Bytes of the current request consumed so far.
  std::size_t consumed() const { return consumed_; }

 private:
  enum class Phase { Head, AwaitingBodyDecision, Body, Done, Refused };

  void start_request();
  Progress refuse(beast_http::status status, std::string error, std::string detail);
  Progress refuse_head(boost::beast::error_code ec, const boost::beast::flat_buffer& input);
  Progress refuse_body_too_large();
  std::optional<Refusal> check_head();

  RequestLimits limits_;
  // Refuses a chunk extension holding a control character: Beast lets a quoted string run
  // across line ends, where a proxy in front would end the chunk line and frame differently.
  std::function<void(std::uint64_t, std::string_view, boost::beast::error_code&)> check_extension_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  Phase phase_ = Phase::Head;
  std::size_t consumed_ = 0;
  std::size_t head_bytes_ = 0;
  std::vector<const char*> head_values_;  // the head's field values; any other is a trailer
  HeadFields head_fields_;
  std::string valid_host_;  // the last Host found valid: a connection's requests repeat it
  std::size_t body_limit_ = 0;
  Refusal refusal_;
};

}  // namespace ssehub::http
