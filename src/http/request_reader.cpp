#include "http/request_reader.hpp"

#include "http/responses.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

namespace ssehub::http {

namespace beast = boost::beast;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The request line did not end within the header limit: the target is what is too long.
bool request_line_unfinished(const beast::flat_buffer& input, std::size_t limit) {
  const auto* data = static_cast<const char*>(input.data().data());
  const std::string_view seen(data, std::min(input.size(), limit));
  return seen.find('\n') == std::string_view::npos;
}

// The request line ends in a well-formed `HTTP/d.d` that Beast does not speak (HTTP/2.0,
// HTTP/1.2): 505 rather than a malformed-request 400.
bool asks_for_another_version(const beast::flat_buffer& input) {
  const auto* data = static_cast<const char*>(input.data().data());
  std::string_view line(data, input.size());
  line = line.substr(0, line.find("\r\n"));
  if (line.size() < 9) return false;
  const std::string_view version = line.substr(line.size() - 8);
  return version.starts_with("HTTP/") && std::isdigit(static_cast<unsigned char>(version[5])) &&
         version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])) &&
         line[line.size() - 9] == ' ';
}

void note_field(HeadFields& fields, beast_http::field name, std::string_view value) {
  switch (name) {
    case beast_http::field::host:
      if (fields.hosts++ == 0) fields.host = value;
      break;
    case beast_http::field::content_length: ++fields.content_lengths; break;
    case beast_http::field::transfer_encoding: ++fields.transfer_encodings; break;
    case beast_http::field::origin:
      if (fields.origins++ == 0) fields.origin = value;
      break;
    case beast_http::field::expect:
      if (fields.expects++ == 0) fields.expect = value;
      break;
    default: break;
  }
}

}  // namespace

RequestReader::RequestReader(RequestLimits limits)
    : limits_(limits),
      check_extension_([](std::uint64_t, std::string_view extensions, beast::error_code& ec) {
        for (unsigned char c : extensions)
          if ((c < 0x20 && c != '\t') || c == 0x7F) ec = beast_http::error::bad_chunk_extension;
      }) {
  start_request();
}

void RequestReader::start_request() {
  parser_.emplace();
  parser_->on_chunk_header(check_extension_);
  parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
  // The head is parsed alone (eager off: the parser stops after it), so the body waits for
  // read_body(); that also sets the body limit, and checks a Content-Length against it.
  // (Beast 1.74 compares a Content-Length with an empty limit as larger: use the largest.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->eager(false);
  phase_ = Phase::Head;
  consumed_ = 0;
  head_bytes_ = 0;
  head_values_.clear();
  head_fields_ = {};
  body_limit_ = 0;
}

RequestReader::Progress RequestReader::refuse(beast_http::status status, std::string error,
                                              std::string detail) {
  phase_ = Phase::Refused;
  refusal_ = {status, std::move(error), std::move(detail)};
  return Progress::Refused;
}

RequestReader::Progress RequestReader::refuse_head(beast::error_code ec,
                                                   const beast::flat_buffer& input) {
  using error = beast_http::error;
  if (ec == error::header_limit) {
    // (Beast may have consumed the lines it parsed before giving up.)
    if (consumed_ == 0 && request_line_unfinished(input, limits_.max_header_bytes))
      return refuse(beast_http::status::uri_too_long, "uri_too_long",
                    "the request line exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
    return refuse(beast_http::status::request_header_fields_too_large, "headers_too_large",
                  "request headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
  }
  if (ec == error::bad_content_length)
    return refuse(beast_http::status::bad_request, "bad_request",
                  "malformed or conflicting Content-Length");
  if (ec == error::bad_transfer_encoding)
    return refuse(beast_http::status::bad_request, "bad_request",
                  "Transfer-Encoding given twice, or with Content-Length");
  if (ec == error::bad_version && asks_for_another_version(input))
    return refuse(beast_http::status::http_version_not_supported, "http_version_not_supported",
                  "ssehub speaks HTTP/1.0 and HTTP/1.1 on this connection");
  return refuse(beast_http::status::bad_request, "bad_request",
                "malformed HTTP request: " + ec.message());
}

std::optional<Refusal> RequestReader::check_head() {
  const RawRequest& request = parser_->get();
  auto bad = [](std::string detail) {
    return Refusal{beast_http::status::bad_request, "bad_request", std::move(detail)};
  };
  if (request.version() != 10 && request.version() != 11)
    return Refusal{beast_http::status::http_version_not_supported, "http_version_not_supported",
                   "ssehub speaks HTTP/1.0 and HTTP/1.1 on this connection"};

  // RFC 9112 §6.1 and §6.3: the transfer codings, in the order they were applied, must end
  // with chunked, or nobody can tell where the body ends; chunked is the only one ssehub
  // decodes.
  std::vector<std::string_view> codings;
  if (head_fields_.transfer_encodings > 0) {
    auto [first, last] = request.equal_range(beast_http::field::transfer_encoding);
    for (auto field = first; field != last; ++field) {
      std::string_view value = field->value();
      for (;;) {
        const std::size_t comma = value.find(',');
        codings.push_back(trim(value.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
      }
    }
  }
  if (!codings.empty()) {
    if (request.version() == 10)
      return bad("Transfer-Encoding in an HTTP/1.0 request: the body's end cannot be known");
    if (std::any_of(codings.begin(), codings.end(), [](auto c) { return c.empty(); }) ||
        !beast::iequals(codings.back(), "chunked"))
      return bad("Transfer-Encoding must end with chunked, or the body's end cannot be known");
    if (codings.size() > 1)
      return Refusal{beast_http::status::not_implemented, "not_implemented",
                     "the only transfer coding ssehub accepts is chunked"};
  }
  if (head_fields_.content_lengths > 1) return bad("Content-Length given more than once");

  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, and a valid one wherever it is given.
  const std::size_t hosts = head_fields_.hosts;
  if (hosts > 1) return bad("more than one Host header");
  if (hosts == 0 && request.version() == 11) return bad("an HTTP/1.1 request needs a Host header");
  if (hosts == 1 && head_fields_.host != valid_host_) {
    if (!parse_authority(head_fields_.host)) return bad("the Host header is not a valid host[:port]");
    if (head_fields_.host.size() <= kMaxRememberedAuthority) valid_host_.assign(head_fields_.host);
  }

  const std::string_view target = request.target();
  if (target == "*") {
    if (request.method() != beast_http::verb::options) return bad("`*` is a target for OPTIONS only");
  } else if (!target.starts_with('/') && !split_absolute_form(target)) {
    return bad("the request target must be a path or an absolute http(s) URL");
  }
  return std::nullopt;
}

bool RequestReader::expects_body() const {
  if (parser_->chunked()) return true;
  const auto length = parser_->content_length();
  return length && *length > 0;
}

bool RequestReader::read_body(std::size_t limit) {
  if (phase_ != Phase::AwaitingBodyDecision) return phase_ != Phase::Refused;
  body_limit_ = limit;
  if (const auto length = parser_->content_length(); length && *length > limit) {
    refuse_body_too_large();
    return false;
  }
  phase_ = Phase::Body;
  parser_->body_limit(limit);
  parser_->eager(true);
  return true;
}

RequestReader::Progress RequestReader::refuse_body_too_large() {
  return refuse(beast_http::status::payload_too_large, "body_too_large",
                body_too_large_detail(body_limit_));
}

RequestReader::Progress RequestReader::parse(beast::flat_buffer& input) {
  using error = beast_http::error;
  for (;;) {
    switch (phase_) {
      case Phase::Refused: return Progress::Refused;
      case Phase::Done: return Progress::Complete;
      case Phase::AwaitingBodyDecision: return Progress::HeadReady;
      case Phase::Head:
      case Phase::Body: break;
    }
    if (phase_ == Phase::Body && !expects_body()) {
      phase_ = Phase::Done;
      continue;
    }
    if (input.size() == 0) return Progress::NeedMore;
    beast::error_code ec;
    const std::size_t used = parser_->put(input.data(), ec);
    input.consume(used);
    consumed_ += used;
    if (ec == error::need_more) ec = {};
    if (ec == error::body_limit) return refuse_body_too_large();
    if (ec) return phase_ == Phase::Head ? refuse_head(ec, input)
                                         : refuse(beast_http::status::bad_request, "bad_request",
                                                  "malformed request body: " + ec.message());
    if (phase_ == Phase::Head) {
      if (!parser_->is_header_done()) {
        if (used == 0) return Progress::NeedMore;
        continue;
      }
      head_bytes_ = consumed_;
      head_values_.clear();
      head_fields_ = {};
      for (const auto& field : parser_->get()) {
        head_values_.push_back(field.value().data());
        note_field(head_fields_, field.name(), field.value());
      }
      if (auto refusal = check_head()) {
        phase_ = Phase::Refused;
        refusal_ = std::move(*refusal);
        return Progress::Refused;
      }
      phase_ = Phase::AwaitingBodyDecision;
      return Progress::HeadReady;
    }
    // Body: what was read beyond the body bytes is framing (chunk lines, extensions,
    // trailers), and so is what waits in the buffer for the end of such a line.
    const std::size_t framing = consumed_ - head_bytes_ - body_bytes();
    const std::size_t pending = parser_->chunked() && !parser_->is_done() ? input.size() : 0;
    if (framing + pending > limits_.max_framing_bytes)
      return refuse(beast_http::status::bad_request, "bad_request",
                    "chunk sizes, extensions and trailers exceed " +
                        std::to_string(limits_.max_framing_bytes) + " bytes");
    if (parser_->is_done()) {
      phase_ = Phase::Done;
      return Progress::Complete;
    }
    if (used == 0) return Progress::NeedMore;
  }
}

RawRequest RequestReader::take_request() {
  RawRequest request = parser_->release();
  // Trailer fields arrive after the head was judged; merging them would let a client change
  // a field (Content-Type, credentials) behind that judgement. RFC 9110 §6.5.1 allows
  // discarding them. (Beast files a field next to others of its name, so the head's fields
  // are known by their storage, which the parser does not move.)
  if (std::distance(request.begin(), request.end()) != static_cast<std::ptrdiff_t>(head_values_.size())) {
    for (auto it = request.begin(); it != request.end();) {
      const bool from_head = std::find(head_values_.begin(), head_values_.end(),
                                       it->value().data()) != head_values_.end();
      it = from_head ? std::next(it) : request.erase(it);
    }
  }
  start_request();
  return request;
}

}  // namespace ssehub::http
