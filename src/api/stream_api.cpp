#include "api/stream_api.hpp"

#include "api/validation.hpp"
#include "http/responses.hpp"

#include <nlohmann/json.hpp>

namespace ssehub::api {

namespace beast_http = boost::beast::http;
using http::json_error;

namespace {

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

// The 503 for events the bus took but did not confirm as stored (for Kafka: no
// acknowledgement within --bus-confirm-timeout-ms; they may still be delivered).
http::Response not_stored(std::string_view what, const std::string& error) {
  auto response = json_error(beast_http::status::service_unavailable, "store_unavailable",
                             std::string(what) + " could not be stored: " + error);
  response.set(beast_http::field::retry_after, "1");
  return response;
}

}  // namespace

StreamApi::StreamApi(const config::Config& config, const sse::StreamOpener& streams,
                     bus::EventBus& bus, const auth::AccessPolicy& access)
    : config_(config),
      limits_{.max_username_bytes = config.max_username_bytes,
              .max_message_bytes = config.max_body_bytes,
              .max_event_bytes = config.max_event_bytes},
      streams_(streams),
      bus_(bus),
      access_(access) {}

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

void StreamApi::open_demo_stream(const http::ExchangePtr& exchange) {
  auto username = accepted_username(exchange);
  if (!username) return;
  if (auto refusal = access_.check_subscriber(exchange->request().head(), *username))
    return exchange->respond(std::move(*refusal));
  streams_.open_demo(exchange);
}

void StreamApi::open_user_stream(const http::ExchangePtr& exchange, std::string_view api) {
  auto username = accepted_username(exchange);
  if (!username) return;
  if (auto refusal = access_.check_subscriber(exchange->request().head(), *username))
    return exchange->respond(std::move(*refusal));
  streams_.open(exchange, core::stream_key(api, *username));
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
        if (!result.ok) return exchange->respond(not_stored("the events", result.error));
        exchange->respond(http::json_response(beast_http::status::ok, {{"ids", result.ids}}));
      });
  if (admission != core::Admission::Queued) exchange->respond(refusal_for(admission));
}

void StreamApi::publish(const http::ExchangePtr& exchange, std::vector<core::EventDraft> drafts,
                        http::Response success) {
  auto admission = bus_.publish(
      std::move(drafts), exchange->executor(),
      [exchange, success = std::move(success)](history::AppendResult result) mutable {
        if (!result.ok) return exchange->respond(not_stored("the event", result.error));
        if (!result.ids.empty())
          success.set("X-Event-Id", std::to_string(result.ids.back()));
        exchange->respond(std::move(success));
      });
  if (admission != core::Admission::Queued) exchange->respond(refusal_for(admission));
}

}  // namespace ssehub::api
