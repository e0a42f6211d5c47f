#pragma once

#include "metrics/metrics.hpp"

#include <boost/beast/http/status.hpp>

#include <optional>
#include <string>
#include <vector>

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

// The protocol a request or stream came in by; one label value each (`protocol="h2"`) on the
// request and stream metrics. TLS or not is no matter here: h2c and h2 are both HTTP/2.
enum class Protocol { Http1, Http2 };
// The label values, in the order of Protocol.
std::vector<std::string> protocol_label_values();

// The reason an answer with this status counts as, if it is a refusal.
std::optional<RejectReason> reject_reason_of(boost::beast::http::status code);

// What the HTTP layer counts; registered once, shared by every connection.
struct HttpMetrics {
  explicit HttpMetrics(metrics::Registry& registry);

  metrics::Gauge& connections_open;  // TCP connections, streams included
  metrics::Gauge& http2_connections_open;  // of those, the ones speaking HTTP/2
  metrics::CounterFamily& requests;  // requests parsed, streams included; by Protocol
  metrics::Gauge& request_body_bytes_buffered;  // of --max-buffered-body-bytes
  metrics::CounterFamily& rejected;  // by RejectReason

  void reject(RejectReason reason) { rejected[reason].add(); }
};

}  // namespace ssehub::http
