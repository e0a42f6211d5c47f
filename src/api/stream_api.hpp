#pragma once

#include "auth/access_policy.hpp"
#include "bus/event_bus.hpp"
#include "config/config.hpp"
#include "domain/validator.hpp"
#include "history/history.hpp"
#include "http/router.hpp"
#include "hub/hub.hpp"
#include "metrics/metrics.hpp"
#include "sse/stream_session.hpp"

#include <optional>
#include <string>

namespace ssehub::api {

// The stream API users know as v1 (demo), v2 and v3 (per-user messages): opening streams,
// resuming them, and publishing to them. v4 opens its streams through open_stream too.
class StreamApi {
 public:
  static constexpr std::size_t kMaxBatchMessages = 1000;

  StreamApi(const config::Config& config, hub::Hub& hub, history::History& history, bus::EventBus& bus,
            const auth::AccessPolicy& access, sse::StreamMetrics& metrics);

  void register_routes(http::Router& router);

  // Validates Last-Event-ID, admits the stream and starts it (with replay when resuming).
  void open_stream(const http::ExchangePtr& exchange, std::string stream);

  // Publishes events and answers with `success` once they are durable (503 otherwise).
  void publish(const http::ExchangePtr& exchange, std::vector<core::EventDraft> drafts,
               http::Response success);

 private:
  void open_demo_stream(const http::ExchangePtr& exchange);
  void open_user_stream(const http::ExchangePtr& exchange, std::string_view api);
  void publish_message(const http::ExchangePtr& exchange, std::string_view api);
  // POST /v2|v3/messages: many messages in one request and one group commit.
  void publish_batch(const http::ExchangePtr& exchange, std::string_view api);
  std::string response_head(const http::ExchangePtr& exchange) const;
  // The answer to HEAD on a stream route: the stream's head, no stream.
  http::Response stream_head_response(const http::ExchangePtr& exchange) const;
  // The request's username once the domain accepts it; otherwise answers the request with
  // the refusal and returns nullopt.
  std::optional<std::string> accepted_username(const http::ExchangePtr& exchange) const;

  const config::Config& config_;
  const domain::Limits limits_;
  hub::Hub& hub_;
  history::History& history_;
  bus::EventBus& bus_;
  const auth::AccessPolicy& access_;
  sse::StreamMetrics& metrics_;
  sse::StreamSettings demo_settings_;
  sse::StreamSettings user_settings_;
};

// Parses a Last-Event-ID value: decimal id, or "earliest" for everything retained; a
// comma-separated list (the header sent twice) means its newest id. nullopt = malformed.
std::optional<core::ResumePoint> parse_last_event_id(std::string_view value);

}  // namespace ssehub::api
