#pragma once

#include "metrics/metrics.hpp"

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

// What the HTTP layer counts; registered once, shared by every connection.
struct HttpMetrics {
  explicit HttpMetrics(metrics::Registry& registry);

  metrics::Gauge& connections_open;  // TCP connections, streams included
  metrics::Counter& requests;        // requests parsed, streams included
  metrics::Gauge& request_body_bytes_buffered;  // of --max-buffered-body-bytes
  metrics::CounterFamily& rejected;  // by RejectReason

  void reject(RejectReason reason) { rejected[reason].add(); }
};

}  // namespace ssehub::http
