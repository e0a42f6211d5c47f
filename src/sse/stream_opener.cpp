#include "sse/stream_opener.hpp"

#include "http/responses.hpp"
#include "http/stream_connection.hpp"
#include "sse/encoder.hpp"

#include <charconv>

namespace ssehub::sse {

namespace beast_http = boost::beast::http;
using http::json_error;

namespace {

core::EventPtr static_frame(std::string frame) {
  auto event = std::make_shared<core::Event>();
  event->frame = std::move(frame);
  return event;
}

// HTTP/1.1 clients get a chunked body: its end without a last chunk is an error to them, so
// they reconnect (a close-delimited body ends "normally", and some clients then stop). An
// HTTP/1.0 client cannot read chunks; its body ends with the connection.
bool chunked(const http::ExchangePtr& exchange) {
  return !exchange->http2() && exchange->request().raw.version() >= 11;
}

StreamSession::Transport transport_of(const http::ExchangePtr& exchange) {
  if (exchange->http2()) return StreamSession::Transport::Http2;
  return exchange->secure() ? StreamSession::Transport::Tls : StreamSession::Transport::Tcp;
}

}  // namespace

std::optional<core::ResumePoint> parse_last_event_id(std::string_view value) {
  if (value.find(',') != std::string_view::npos) {
    // The header given twice (fetch() joins `Last-Event-ID` set by a caller and
    // `last-event-id` set by @microsoft/fetch-event-source into "7, 9"): ids only grow, so
    // the largest is the client's newest.
    std::optional<core::ResumePoint> newest;
    for (;;) {
      const std::size_t comma = value.find(',');
      std::string_view item = value.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      const auto point = parse_last_event_id(item);
      if (!point) return std::nullopt;
      if (!newest || (!point->earliest && (newest->earliest || point->after_id > newest->after_id)))
        newest = point;
      if (comma == std::string_view::npos) return newest;
      value.remove_prefix(comma + 1);
    }
  }
  if (value == "earliest") return core::ResumePoint{.earliest = true, .after_id = 0};
  if (value.empty() || value.size() > 20) return std::nullopt;
  std::uint64_t id = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
  if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
  return core::ResumePoint{.earliest = false, .after_id = id};
}

StreamOpener::StreamOpener(const config::Config& config, hub::Hub& hub, history::History& history,
                           StreamMetrics& metrics)
    : hub_(hub),
      history_(history),
      metrics_(metrics),
      max_streams_per_user_(config.max_streams_per_user) {
  demo_settings_.keepalive = config.v1_keepalive;
  demo_settings_.keepalive_line = static_frame(encode_comment_line("keep-alive-text"));
  demo_settings_.queue_limit_bytes = config.stream_queue_bytes;
  demo_settings_.periodic_frame = static_frame(encode_event("", std::nullopt, "hi!"));
  demo_settings_.periodic_interval = config.v1_hi_interval;
  demo_settings_.close_timeout = config.request_timeout;
  demo_settings_.tls_park_idle = config.tls_park_idle;

  user_settings_.keepalive = config.keepalive;
  user_settings_.keepalive_line = demo_settings_.keepalive_line;
  user_settings_.opening_keepalive = true;
  user_settings_.preamble =
      static_frame(encode_retry(static_cast<std::uint64_t>(config.retry_hint.count())));
  user_settings_.queue_limit_bytes = config.stream_queue_bytes;
  user_settings_.close_timeout = config.request_timeout;
  user_settings_.tls_park_idle = config.tls_park_idle;
}

http::StreamConnection StreamOpener::take_connection(const http::ExchangePtr& exchange) const {
  auto connection = exchange->take_connection();
  // An HTTP/2 stream's head is HEADERS, sent by its connection (with the CORS fields, as for
  // any answer there); the session then writes the body only.
  if (auto* stream = std::get_if<std::shared_ptr<http::Http2Stream>>(&connection.transport))
    (*stream)->open(head_response(exchange));
  return connection;
}

std::string StreamOpener::response_head(const http::ExchangePtr& exchange) const {
  if (exchange->http2()) return {};
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n"
      "Server: ssehub\r\n";
  if (chunked(exchange)) head += "Transfer-Encoding: chunked\r\n";
  if (!exchange->allowed_origin().empty())
    head += "Access-Control-Allow-Origin: " + exchange->allowed_origin() + "\r\nVary: Origin\r\n";
  head += "\r\n";
  return head;
}

http::Response StreamOpener::head_response(const http::ExchangePtr& exchange) const {
  // What GET would answer, without the stream: the session sends the head only.
  http::Response response{beast_http::status::ok, 11};
  response.set(beast_http::field::content_type, "text/event-stream");
  response.set(beast_http::field::cache_control, "no-cache");
  response.set("X-Accel-Buffering", "no");
  if (chunked(exchange)) response.chunked(true);
  return response;
}

void StreamOpener::open_demo(const http::ExchangePtr& exchange) const {
  if (exchange->head_only()) return exchange->respond(head_response(exchange));
  auto session = StreamSession::create(transport_of(exchange), exchange->executor(), hub_, metrics_,
                                       demo_settings_, exchange->thread(), "");
  if (session->attach() != hub::Hub::Admission::Admitted)
    return exchange->respond(json_error(beast_http::status::service_unavailable, "server_full",
                                        "the server holds its maximum number of streams"));
  session->start(take_connection(exchange), exchange->connection_slot(), response_head(exchange),
                 chunked(exchange), nullptr, std::nullopt);
}

void StreamOpener::open(const http::ExchangePtr& exchange, std::string stream) const {
  // The header wins: a browser reconnecting to a URL with ?lastEventId= sends its newer id in
  // the header.
  std::optional<core::ResumePoint> resume;
  std::string header_ids;
  const auto& raw = exchange->request().raw;
  for (auto [field, end] = raw.equal_range("Last-Event-ID"); field != end; ++field) {
    if (!header_ids.empty()) header_ids += ',';
    header_ids += field->value();
  }
  std::string_view raw_id = header_ids;
  std::optional<std::string> query_id;
  if (raw_id.empty()) {
    query_id = exchange->target().param("lastEventId");
    if (query_id) raw_id = *query_id;
  }
  if (!raw_id.empty()) {
    resume = parse_last_event_id(raw_id);
    if (!resume)
      return exchange->respond(
          json_error(beast_http::status::bad_request, "invalid_last_event_id",
                     "Last-Event-ID must be a decimal event id or `earliest`"));
  }
  if (exchange->head_only()) return exchange->respond(head_response(exchange));
  auto session = StreamSession::create(transport_of(exchange), exchange->executor(), hub_, metrics_,
                                       user_settings_, exchange->thread(), stream);
  switch (session->attach()) {
    case hub::Hub::Admission::Admitted: break;
    case hub::Hub::Admission::UserLimit:
      return exchange->respond(json_error(beast_http::status::too_many_requests, "too_many_streams",
                                          "this user already has " +
                                              std::to_string(max_streams_per_user_) +
                                              " open streams; close one first"));
    case hub::Hub::Admission::TotalLimit: {
      auto response = json_error(beast_http::status::service_unavailable, "server_full",
                                 "the server holds its maximum number of streams");
      response.set(beast_http::field::retry_after, "5");
      return exchange->respond(std::move(response));
    }
  }
  session->start(take_connection(exchange), exchange->connection_slot(), response_head(exchange),
                 chunked(exchange), &history_, resume);
}

}  // namespace ssehub::sse
