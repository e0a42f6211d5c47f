#pragma once

#include "metrics/metrics.hpp"

#include <boost/beast/http/status.hpp>

#include <optional>

namespace ssehub::http {

// Why a request was refused; one label value each on ssehub_requests_rejected_total.
enum class RejectReason {
  BadRequest,
  NotFound,
  MethodNotAllowed,
  BodyTooLarge,
  HeadersTooLarge,
  TooManyStreams,
  Timeout,
  Unavailable,
  Conflict,
  Unauthenticated,
  Forbidden,
  RateLimited,
  TooManyConnections,
  UriTooLong,
  NotImplemented,
  HostNotAllowed,
  BodyMemory,
};

// The reason an answer with this status counts as, if it is a refusal.
std::optional<RejectReason> reject_reason_of(boost::beast::http::status code);

// What the HTTP layer counts; registered once, shared by every connection.
struct HttpMetrics {
  explicit HttpMetrics(metrics::Registry& registry);

  metrics::Gauge& connections_open;  // TCP connections, streams included
  metrics::Gauge& http2_connections_open;  // of those, the ones speaking HTTP/2
  metrics::Counter& requests;        // requests parsed, streams included
  metrics::Gauge& request_body_bytes_buffered;  // of --max-buffered-body-bytes
  metrics::CounterFamily& rejected;  // by RejectReason

  void reject(RejectReason reason) { rejected[reason].add(); }
};

}  // namespace ssehub::http
