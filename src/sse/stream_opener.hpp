#pragma once

#include "config/config.hpp"
#include "history/history.hpp"
#include "http/exchange.hpp"
#include "hub/hub.hpp"
#include "http/stream_connection.hpp"
#include "sse/stream_session.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ssehub::sse {

// Opens the text/event-stream responses of every API, once the API has decided who may
// listen to which stream: reads Last-Event-ID, has the hub admit the stream (429 or 503 when
// it does not), answers HEAD with the head alone, and starts the session, replaying history
// first when the client resumes.
class StreamOpener {
 public:
  StreamOpener(const config::Config& config, hub::Hub& hub, history::History& history,
               StreamMetrics& metrics);

  // A resumable stream of events with ids (v2-v4), after the id in the Last-Event-ID header
  // or the lastEventId query parameter when the client resumes.
  void open(const http::ExchangePtr& exchange, std::string stream) const;
  // The v1 demo stream: `data: hi!` at an interval, no ids, no resume.
  void open_demo(const http::ExchangePtr& exchange) const;

 private:
  std::string response_head(const http::ExchangePtr& exchange) const;
  // The exchange's connection, for the session to take; an HTTP/2 stream's HEADERS are sent.
  http::StreamConnection take_connection(const http::ExchangePtr& exchange) const;
  // The answer to HEAD on a stream route: the stream's head, no stream.
  http::Response head_response(const http::ExchangePtr& exchange) const;

  hub::Hub& hub_;
  history::History& history_;
  StreamMetrics& metrics_;
  std::size_t max_streams_per_user_;
  StreamSettings demo_settings_;
  StreamSettings user_settings_;
};

// Parses a Last-Event-ID value: decimal id, or "earliest" for everything retained; a
// comma-separated list (the header sent twice) means its newest id. nullopt = malformed.
std::optional<core::ResumePoint> parse_last_event_id(std::string_view value);

}  // namespace ssehub::sse
