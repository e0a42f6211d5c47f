// One HTTP/2 request's exchange: its head checked as HTTP/1.1's is, the request handed to the
// Router, and the response (or refusal) submitted to nghttp2.
#include "http/http2_connection.hpp"
#include "http/request_admission.hpp"
#include "http/responses.hpp"
#include "http/router.hpp"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

namespace {

// Fields that name a property of an HTTP/1.1 connection; HTTP/2 forbids them (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  return beast::iequals(name, "connection") || beast::iequals(name, "transfer-encoding") ||
         beast::iequals(name, "keep-alive") || beast::iequals(name, "proxy-connection") ||
         beast::iequals(name, "upgrade");
}

// An Exchange's view of one stream of an HTTP/2 connection.
template <class Stream>
class Http2Request final : public HttpConnection {
 public:
  Http2Request(std::shared_ptr<Http2Session<Stream>> session, std::int32_t id)
      : session_(std::move(session)), id_(id) {}

 private:
  boost::asio::any_io_executor executor() override { return session_->executor(); }
  bool secure() const override { return kIsTls<Stream>; }
  bool http2() const override { return true; }
  void respond(Response response, bool counted) override {
    session_->respond(id_, std::move(response), counted);
  }
  StreamConnection hand_over() override { return StreamConnection{session_->hand_over(id_)}; }
  std::shared_ptr<void> client_slot() const override { return session_->client_slot(); }

  std::shared_ptr<Http2Session<Stream>> session_;
  std::int32_t id_;
};

}  // namespace

template <class Stream>
void Http2Session<Stream>::on_head(StreamState& stream) {
  StreamRequest& request = *stream.request;  // refuse() releases it: each one ends here
  if (request.header_bytes > context_.limits.max_header_bytes) {
    metrics_.requests[Protocol::Http2].add();
    return refuse(stream,
                  json_error(beast_http::status::request_header_fields_too_large,
                             "headers_too_large",
                             "the request's header fields are larger than " +
                                 std::to_string(context_.limits.max_header_bytes) + " bytes"),
                  false);
  }
  // Handlers and the CORS policy read the host from Host.
  if (request.raw.count(beast_http::field::host) == 0 && !request.authority.empty())
    request.raw.set(beast_http::field::host, request.authority);
  request.raw.target(request.path);
  stream.allowed_origin =
      context_.cors.allow(request.raw[beast_http::field::origin], request.raw[beast_http::field::host]);
  request.target = parse_target(request.path);
  if (!request.target) {
    metrics_.requests[Protocol::Http2].add();
    return refuse(stream,
                  json_error(beast_http::status::bad_request, "bad_request",
                             "malformed percent-encoding in the request target"),
                  false);
  }
  const std::string_view authority =
      request.authority.empty() ? request.raw[beast_http::field::host] : std::string_view(request.authority);
  auto admission = admit_request_head(context_, request.raw, *request.target, authority, remote_);
  if (auto* refusal = std::get_if<HeadRefusal>(&admission)) {
    metrics_.requests[Protocol::Http2].add();
    return refuse(stream, std::move(refusal->response), refusal->counted);
  }
  request.body_limit = std::get<std::size_t>(admission);
  request.admitted = true;
  // A declared length over the limit is refused before a byte of the body is read (nghttp2
  // checks that the DATA frames add up to a declared length).
  if (const auto length = request.raw[beast_http::field::content_length]; !length.empty()) {
    std::size_t declared = 0;
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), declared);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && declared > request.body_limit)) {
      metrics_.requests[Protocol::Http2].add();
      return refuse(stream,
                    json_error(beast_http::status::payload_too_large, "body_too_large",
                               body_too_large_detail(request.body_limit)),
                    false);
    }
  }
}

template <class Stream>
void Http2Session<Stream>::dispatch(StreamState& stream) {
  stream.dispatched = true;
  stream.answering.emplace(context_.requests_in_progress);
  metrics_.requests[Protocol::Http2].add();
  const auto received = std::move(stream.request);
  Request request;
  request.raw = std::move(received->raw);
  request.target = std::move(*received->target);
  request.body_budget = std::move(received->body_share);
  request.remote = remote_;
  request.raw.prepare_payload();  // Content-Length of the body received, as HTTP/1.1 has it
  auto exchange = std::make_shared<Exchange>(
      std::make_shared<Http2Request<Stream>>(this->shared_from_this(), stream.id), std::move(request),
      thread_, stream.allowed_origin);
  context_.router.dispatch(exchange);
}

template <class Stream>
void Http2Session<Stream>::refuse(StreamState& stream, Response response, bool counted) {
  // DATA still arriving is dropped, and its share of the bodies' budget is given back.
  stream.request.reset();
  respond(stream.id, std::move(response), counted);
}

template <class Stream>
void Http2Session<Stream>::respond(std::int32_t id, Response response, bool counted) {
  StreamState* stream = find(id);
  if (!stream || stream->answered || state_ == State::Closed) return;  // answered, or reset
  if (auto reason = reject_reason_of(response.result()); reason && !counted) metrics_.reject(*reason);
  const auto status = response.result();
  const bool with_body = !stream->head && status != beast_http::status::no_content &&
                         status != beast_http::status::not_modified && !response.body().empty();
  submit(*stream, std::move(response), with_body);
  if (!with_body) stream->answering.reset();
  do_write();
}

template <class Stream>
void Http2Session<Stream>::submit(StreamState& stream, Response response, bool with_body) {
  stream.answered = true;
  if (!stream.allowed_origin.empty()) {
    response.set(beast_http::field::access_control_allow_origin, stream.allowed_origin);
    response.set(beast_http::field::access_control_expose_headers, "X-Event-Id, Retry-After");
    response.set(beast_http::field::vary, "Origin");
  }
  if (response.result() == beast_http::status::no_content ||
      response.result() == beast_http::status::not_modified)
    response.erase(beast_http::field::content_length);
  response.set(beast_http::field::server, "ssehub");
  // Names in lower case (RFC 9113 §8.2); nghttp2 copies names and values on submit.
  std::vector<std::string> names;
  names.reserve(std::distance(response.begin(), response.end()));
  std::vector<nghttp2_nv> fields;
  fields.reserve(names.capacity() + 1);
  const std::string status = std::to_string(response.result_int());
  auto field = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  fields.push_back(field(":status", status));
  for (const auto& header : response) {
    if (connection_specific(header.name_string())) continue;
    std::string& name = names.emplace_back(header.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    fields.push_back(field(name, header.value()));
  }
  if (with_body) {
    stream.body = std::move(response.body());
    stream.body_sent = 0;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &read_body;
  const int rv = nghttp2_submit_response(session_, stream.id, fields.data(), fields.size(),
                                         with_body || stream.event_stream ? &provider : nullptr);
  if (rv != 0) spdlog::debug("http2: cannot answer stream {}: {}", stream.id, nghttp2_strerror(rv));
}

// Compiled here for both transports; the rest of Http2Session is compiled where it is defined.
template void Http2Session<beast::tcp_stream>::on_head(StreamState&);
template void Http2Session<beast::tcp_stream>::dispatch(StreamState&);
template void Http2Session<beast::tcp_stream>::refuse(StreamState&, Response, bool);
template void Http2Session<beast::tcp_stream>::respond(std::int32_t, Response, bool);
template void Http2Session<beast::tcp_stream>::submit(StreamState&, Response, bool);
template void Http2Session<TlsStream>::on_head(StreamState&);
template void Http2Session<TlsStream>::dispatch(StreamState&);
template void Http2Session<TlsStream>::refuse(StreamState&, Response, bool);
template void Http2Session<TlsStream>::respond(std::int32_t, Response, bool);
template void Http2Session<TlsStream>::submit(StreamState&, Response, bool);

}  // namespace ssehub::http
