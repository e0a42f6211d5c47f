#include "api/stream_api.hpp"

#include "api/validation.hpp"
#include "http/request.hpp"
#include "http/responses.hpp"
#include "http/stream_connection.hpp"
#include "sse/encoder.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace ssehub::api {

namespace beast_http = boost::beast::http;
using http::json_error;

namespace {

core::EventPtr static_frame(std::string frame) {
  auto event = std::make_shared<core::Event>();
  event->frame = std::move(frame);
  return event;
}

// The 503 for a publish the bus did not take.
http::Response refusal_for(core::Admission admission) {
  auto response = [&] {
    switch (admission) {
      case core::Admission::QueueFull:
        return json_error(beast_http::status::service_unavailable, "overloaded",
                          "too many events are waiting to be stored; retry shortly");
      case core::Admission::Unavailable:
        return json_error(beast_http::status::service_unavailable, "bus_unavailable",
                          "the Kafka cluster carrying events between nodes is unreachable");
      default:
        return json_error(beast_http::status::service_unavailable, "shutting_down",
                          "the server is shutting down");
    }
  }();
  response.set(beast_http::field::retry_after, "1");
  return response;
}

// HTTP/1.1 clients get a chunked body: its end without a last chunk is an error to them, so
// they reconnect (a close-delimited body ends "normally", and some clients then stop). An
// HTTP/1.0 client cannot read chunks; its body ends with the connection.
bool chunked(const http::ExchangePtr& exchange) { return exchange->request().raw.version() >= 11; }

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

StreamApi::StreamApi(const config::Config& config, hub::Hub& hub, history::History& history,
                     bus::EventBus& bus, const auth::AccessPolicy& access,
                     sse::StreamMetrics& metrics)
    : config_(config),
      limits_{.max_username_bytes = config.max_username_bytes,
              .max_message_bytes = config.max_body_bytes,
              .max_event_bytes = config.max_event_bytes},
      hub_(hub),
      history_(history),
      bus_(bus),
      access_(access),
      metrics_(metrics) {
  demo_settings_.keepalive = config.v1_keepalive;
  demo_settings_.keepalive_line = static_frame(sse::encode_comment_line("keep-alive-text"));
  demo_settings_.queue_limit_bytes = config.stream_queue_bytes;
  demo_settings_.periodic_frame = static_frame(sse::encode_event("", std::nullopt, "hi!"));
  demo_settings_.periodic_interval = config.v1_hi_interval;
  demo_settings_.close_timeout = config.request_timeout;

  user_settings_.keepalive = config.keepalive;
  user_settings_.keepalive_line = demo_settings_.keepalive_line;
  user_settings_.opening_keepalive = true;
  user_settings_.preamble =
      static_frame(sse::encode_retry(static_cast<std::uint64_t>(config.retry_hint.count())));
  user_settings_.queue_limit_bytes = config.stream_queue_bytes;
  user_settings_.close_timeout = config.request_timeout;
}

void StreamApi::register_routes(http::Router& router) {
  router.add(beast_http::verb::get, "/v1/sse", [this](const auto& ex) { open_demo_stream(ex); });
  for (std::string_view api : {"v2", "v3"}) {
    router.add(beast_http::verb::get, "/" + std::string(api) + "/sse",
               [this, api](const auto& ex) { open_user_stream(ex, api); });
    // Publishers are known by their head: a caller without credentials cannot make the
    // server read a body.
    auto publisher = [this](const http::RequestHead& head) { return access_.check_publisher(head); };
    router.add(beast_http::verb::post, "/" + std::string(api) + "/message",
               [this, api](const auto& ex) { publish_message(ex, api); }, {.guard = publisher});
    router.add(beast_http::verb::post, "/" + std::string(api) + "/messages",
               [this, api](const auto& ex) { publish_batch(ex, api); },
               {.max_body_bytes = config_.max_batch_bytes, .guard = publisher});
  }
}

std::optional<std::string> StreamApi::accepted_username(const http::ExchangePtr& exchange) const {
  auto username = username_of(exchange->target(), limits_);
  if (auto* error = std::get_if<domain::UsernameError>(&username)) {
    exchange->respond(refusal_for(*error).response());
    return std::nullopt;
  }
  return std::move(std::get<std::string>(username));
}

std::string StreamApi::response_head(const http::ExchangePtr& exchange) const {
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

http::Response StreamApi::stream_head_response(const http::ExchangePtr& exchange) const {
  // What GET would answer, without the stream: the session sends the head only.
  http::Response response{beast_http::status::ok, 11};
  response.set(beast_http::field::content_type, "text/event-stream");
  response.set(beast_http::field::cache_control, "no-cache");
  response.set("X-Accel-Buffering", "no");
  if (chunked(exchange)) response.chunked(true);
  return response;
}

void StreamApi::open_demo_stream(const http::ExchangePtr& exchange) {
  auto username = accepted_username(exchange);
  if (!username) return;
  if (auto refusal = access_.check_subscriber(exchange->request().head(), *username))
    return exchange->respond(std::move(*refusal));
  if (exchange->head_only()) return exchange->respond(stream_head_response(exchange));
  auto session = sse::StreamSession::create(exchange->secure(), exchange->executor(), hub_,
                                            metrics_, demo_settings_, exchange->thread(), "");
  if (session->attach() != hub::Hub::Admission::Admitted)
    return exchange->respond(json_error(beast_http::status::service_unavailable, "server_full",
                                        "the server holds its maximum number of streams"));
  session->start(exchange->take_connection(), exchange->connection_slot(), response_head(exchange),
                 chunked(exchange), nullptr, std::nullopt);
}

void StreamApi::open_user_stream(const http::ExchangePtr& exchange, std::string_view api) {
  auto username = accepted_username(exchange);
  if (!username) return;
  if (auto refusal = access_.check_subscriber(exchange->request().head(), *username))
    return exchange->respond(std::move(*refusal));
  open_stream(exchange, core::stream_key(api, *username));
}

void StreamApi::open_stream(const http::ExchangePtr& exchange, std::string stream) {
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
      return exchange->respond(json_error(
          beast_http::status::bad_request, "invalid_last_event_id",
          "Last-Event-ID must be a decimal event id or `earliest`"));
  }
  if (exchange->head_only()) return exchange->respond(stream_head_response(exchange));
  auto session = sse::StreamSession::create(exchange->secure(), exchange->executor(), hub_,
                                            metrics_, user_settings_, exchange->thread(), stream);
  switch (session->attach()) {
    case hub::Hub::Admission::Admitted: break;
    case hub::Hub::Admission::UserLimit:
      return exchange->respond(json_error(
          beast_http::status::too_many_requests, "too_many_streams",
          "this user already has " + std::to_string(config_.max_streams_per_user) +
              " open streams; close one first"));
    case hub::Hub::Admission::TotalLimit: {
      auto response = json_error(beast_http::status::service_unavailable, "server_full",
                                 "the server holds its maximum number of streams");
      response.set(beast_http::field::retry_after, "5");
      return exchange->respond(std::move(response));
    }
  }
  session->start(exchange->take_connection(), exchange->connection_slot(), response_head(exchange),
                 chunked(exchange), &history_, resume);
}

void StreamApi::publish_message(const http::ExchangePtr& exchange, std::string_view api) {
  auto username = accepted_username(exchange);
  if (!username) return;
  const std::string& body = exchange->request().raw.body();
  if (auto error = domain::check_message(body, limits_))
    return exchange->respond(refusal_for(*error).response());
  std::vector<core::EventDraft> drafts(1);
  drafts[0].stream = core::stream_key(api, *username);
  drafts[0].data = body;
  publish(exchange, std::move(drafts), http::empty_response(beast_http::status::no_content));
}

void StreamApi::publish_batch(const http::ExchangePtr& exchange, std::string_view api) {
  auto bad = [&](std::string detail) {
    exchange->respond(json_error(beast_http::status::bad_request, "invalid_batch", detail));
  };
  const auto body = nlohmann::json::parse(exchange->request().raw.body(), nullptr, false);
  if (body.is_discarded() || !body.is_array())
    return bad(R"(the body must be a JSON array of {"username": "...", "message": "..."})");
  if (body.empty()) return bad("the batch is empty");
  if (body.size() > kMaxBatchMessages)
    return bad("a batch holds at most " + std::to_string(kMaxBatchMessages) + " messages");
  std::vector<core::EventDraft> drafts;
  drafts.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto& item = body[i];
    const std::string where = "message " + std::to_string(i) + ": ";
    if (!item.is_object() || !item.contains("username") || !item["username"].is_string() ||
        !item.contains("message") || !item["message"].is_string())
      return bad(where + R"(needs "username" and "message" strings)");
    const auto& username = item["username"].get_ref<const std::string&>();
    // A username is refused in the words of the single routes; a message in the domain's
    // (JSON text is valid UTF-8, and a batch names no message body).
    if (auto error = domain::check_username(username, limits_))
      return bad(where + refusal_for(*error).detail);
    std::string message = item["message"].get<std::string>();
    if (auto error = domain::check_message(message, limits_)) return bad(where + error->message);
    core::EventDraft draft;
    draft.stream = core::stream_key(api, username);
    draft.data = std::move(message);
    drafts.push_back(std::move(draft));
  }
  auto admission = bus_.publish(
      std::move(drafts), exchange->executor(), [exchange](history::AppendResult result) {
        if (!result.ok)
          return exchange->respond(json_error(beast_http::status::service_unavailable,
                                              "store_unavailable",
                                              "the events could not be stored: " + result.error));
        exchange->respond(http::json_response(beast_http::status::ok, {{"ids", result.ids}}));
      });
  if (admission != core::Admission::Queued) exchange->respond(refusal_for(admission));
}

void StreamApi::publish(const http::ExchangePtr& exchange, std::vector<core::EventDraft> drafts,
                        http::Response success) {
  auto admission = bus_.publish(
      std::move(drafts), exchange->executor(),
      [exchange, success = std::move(success)](history::AppendResult result) mutable {
        if (!result.ok)
          return exchange->respond(json_error(beast_http::status::service_unavailable,
                                              "store_unavailable",
                                              "the event could not be stored: " + result.error));
        if (!result.ids.empty())
          success.set("X-Event-Id", std::to_string(result.ids.back()));
        exchange->respond(std::move(success));
      });
  if (admission == core::Admission::Queued) return;
  auto response = refusal_for(admission);
  response.set(beast_http::field::retry_after, "1");
  exchange->respond(std::move(response));
}

}  // namespace ssehub::api
