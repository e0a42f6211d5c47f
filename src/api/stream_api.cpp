#include "api/stream_api.hpp"

#include "api/idempotency.hpp"
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

// A draft published with an Idempotency-Key, as the publisher sent it: compared with what is
// stored under its id when the key turns out to have been used before.
struct Keyed {
  std::size_t index;  // in the request (0 for a single message)
  std::string key;
  core::EventDraft sent;
};

// Reads back, one after the other, the events that keyed drafts were answered with, and
// collects the drafts whose stored event has other content (their key was used for
// something else). `done(nullopt)` when history could not be read.
class KeyedCheck : public std::enable_shared_from_this<KeyedCheck> {
 public:
  using Done = std::function<void(std::optional<std::vector<const Keyed*>>)>;
  KeyedCheck(history::History& history, boost::asio::any_io_executor executor,
             std::vector<Keyed> keyed, std::vector<std::uint64_t> ids, Done done)
      : history_(history),
        executor_(std::move(executor)),
        keyed_(std::move(keyed)),
        ids_(std::move(ids)),
        done_(std::move(done)) {}

  void run() {
    if (next_ == keyed_.size()) return done_(std::move(mismatched_));
    const Keyed& item = keyed_[next_];
    const std::uint64_t id = ids_.at(item.index);
    const bool queued = history_.replay(
        item.sent.stream, core::ResumePoint{.earliest = false, .after_id = id - 1}, executor_,
        [self = shared_from_this()](std::shared_ptr<history::Replay> replay) {
          self->on_read(std::move(replay));
        },
        history::PageLimit{.max_bytes = 1});
    if (!queued) done_(std::nullopt);
  }

 private:
  void on_read(std::shared_ptr<history::Replay> replay) {
    if (!replay) return done_(std::nullopt);
    const Keyed& item = keyed_[next_];
    const std::uint64_t id = ids_.at(item.index);
    // Gone (retention dropped it, and its key with it): nothing left to compare with.
    if (!replay->events.empty() && replay->events.front()->id == id) {
      const auto& stored = *replay->events.front();
      if (stored.data != item.sent.data || stored.type != item.sent.type) mismatched_.push_back(&item);
    }
    ++next_;
    run();
  }

  history::History& history_;
  boost::asio::any_io_executor executor_;
  const std::vector<Keyed> keyed_;
  const std::vector<std::uint64_t> ids_;
  Done done_;
  std::size_t next_ = 0;
  std::vector<const Keyed*> mismatched_;
};

// The Idempotency-Key header of a publish, if it has one.
std::optional<std::string> idempotency_key_of(const http::Request& request) {
  const auto field = request.raw.find("Idempotency-Key");
  if (field == request.raw.end()) return std::nullopt;
  return std::string(field->value());
}

http::Response key_reused(const Keyed& item, std::uint64_t id, std::string_view where) {
  return json_error(beast_http::status::unprocessable_entity, "idempotency_key_reused",
                    std::string(where) + "Idempotency-Key " + item.key +
                        " was used before in this stream for other content (event " +
                        std::to_string(id) + "); use a new key for a new event");
}

// Publishes `drafts`; on success, when some keyed drafts were recognised as stored before,
// checks that they were stored with the same content before calling `answer`.
void publish_checked(bus::EventBus& bus, history::History& history, const http::ExchangePtr& exchange,
                     std::vector<core::EventDraft> drafts, std::vector<Keyed> keyed,
                     std::string_view what,
                     std::function<void(const history::AppendResult&, std::vector<const Keyed*>)> answer) {
  auto on_result = [&history, exchange, keyed = std::move(keyed), what = std::string(what),
                    answer = std::move(answer)](history::AppendResult result) mutable {
    if (!result.ok) return exchange->respond(not_stored(what, result.error));
    if (result.already_stored == 0 || keyed.empty()) return answer(result, {});
    auto shared = std::make_shared<history::AppendResult>(std::move(result));
    auto check = std::make_shared<KeyedCheck>(
        history, exchange->executor(), std::move(keyed), shared->ids,
        [exchange, shared, what, answer = std::move(answer)](
            std::optional<std::vector<const Keyed*>> mismatched) {
          if (!mismatched)
            return exchange->respond(not_stored(what, "its Idempotency-Key could not be checked"));
          answer(*shared, std::move(*mismatched));
        });
    check->run();
  };
  auto admission = bus.publish(std::move(drafts), exchange->executor(), std::move(on_result));
  if (admission != core::Admission::Queued) exchange->respond(refusal_for(admission));
}

}  // namespace

StreamApi::StreamApi(const config::Config& config, const sse::StreamOpener& streams,
                     bus::EventBus& bus, history::History& history,
                     const auth::AccessPolicy& access)
    : config_(config),
      limits_{.max_username_bytes = config.max_username_bytes,
              .max_message_bytes = config.max_body_bytes,
              .max_event_bytes = config.max_event_bytes},
      streams_(streams),
      bus_(bus),
      history_(history),
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
  const auto key = idempotency_key_of(exchange->request());
  if (key)
    if (auto refusal = check_idempotency_key(*key)) return exchange->respond(refusal->response());
  const std::string& body = exchange->request().raw.body();
  if (auto error = domain::check_message(body, limits_))
    return exchange->respond(refusal_for(*error).response());
  core::EventDraft draft;
  draft.stream = core::stream_key(api, *username);
  draft.data = body;
  if (key) draft.dedupe_key = dedupe_key_for(draft.stream, *key);
  publish(exchange, std::move(draft), http::empty_response(beast_http::status::no_content));
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
  std::vector<Keyed> keyed;
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
    if (item.contains("idempotency_key")) {
      const auto& key = item["idempotency_key"];
      if (!key.is_string()) return bad(where + R"("idempotency_key" must be a string)");
      if (auto refusal = check_idempotency_key(key.get_ref<const std::string&>()))
        return bad(where + refusal->detail);
      draft.dedupe_key = dedupe_key_for(draft.stream, key.get_ref<const std::string&>());
      keyed.push_back({i, key.get<std::string>(), draft});
    }
    drafts.push_back(std::move(draft));
  }
  publish_checked(bus_, history_, exchange, std::move(drafts), std::move(keyed), "the events",
                  [exchange](const history::AppendResult& result, std::vector<const Keyed*> reused) {
                    if (!reused.empty())
                      return exchange->respond(key_reused(
                          *reused.front(), result.ids.at(reused.front()->index),
                          "message " + std::to_string(reused.front()->index) +
                              " (the batch's other messages are stored; a retry with the "
                              "same keys is safe): "));
                    exchange->respond(
                        http::json_response(beast_http::status::ok, {{"ids", result.ids}}));
                  });
}

void StreamApi::publish(const http::ExchangePtr& exchange, core::EventDraft draft,
                        http::Response success) {
  std::vector<Keyed> keyed;
  if (!draft.dedupe_key.empty())
    keyed.push_back({0, idempotency_key_of(exchange->request()).value_or(""), draft});
  std::vector<core::EventDraft> drafts;
  drafts.push_back(std::move(draft));
  publish_checked(bus_, history_, exchange, std::move(drafts), std::move(keyed), "the event",
                  [exchange, success = std::move(success)](const history::AppendResult& result,
                                                           std::vector<const Keyed*> reused) mutable {
                    if (!reused.empty())
                      return exchange->respond(key_reused(*reused.front(), result.ids.at(0), ""));
                    if (!result.ids.empty())
                      success.set("X-Event-Id", std::to_string(result.ids.back()));
                    exchange->respond(std::move(success));
                  });
}

}  // namespace ssehub::api
