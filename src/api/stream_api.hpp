#pragma once

#include "auth/access_policy.hpp"
#include "bus/event_bus.hpp"
#include "config/config.hpp"
#include "domain/validator.hpp"
#include "history/history.hpp"
#include "http/router.hpp"
#include "sse/stream_opener.hpp"

#include <optional>
#include <string>

namespace ssehub::api {

// The stream API users know as v1 (demo), v2 and v3 (per-user messages): who may open which
// stream (sse::StreamOpener opens it), and publishing to them.
class StreamApi {
 public:
  static constexpr std::size_t kMaxBatchMessages = 1000;

  StreamApi(const config::Config& config, const sse::StreamOpener& streams, bus::EventBus& bus,
            history::History& history, const auth::AccessPolicy& access);

  void register_routes(http::Router& router);

  // Publishes one event and answers with `success` (and X-Event-Id) once it is durable
  // (503 otherwise; 422 when its Idempotency-Key was used for other content).
  void publish(const http::ExchangePtr& exchange, core::EventDraft draft, http::Response success);

 private:
  void open_demo_stream(const http::ExchangePtr& exchange);
  void open_user_stream(const http::ExchangePtr& exchange, std::string_view api);
  void publish_message(const http::ExchangePtr& exchange, std::string_view api);
  // POST /v2|v3/messages: many messages in one request and one group commit.
  void publish_batch(const http::ExchangePtr& exchange, std::string_view api);
  // The request's username once the domain accepts it; otherwise answers the request with
  // the refusal and returns nullopt.
  std::optional<std::string> accepted_username(const http::ExchangePtr& exchange) const;

  const config::Config& config_;
  const domain::Limits limits_;
  const sse::StreamOpener& streams_;
  bus::EventBus& bus_;
  history::History& history_;
  const auth::AccessPolicy& access_;
};

}  // namespace ssehub::api
