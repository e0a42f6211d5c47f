#include "http/http_metrics.hpp"

namespace ssehub::http {

HttpMetrics::HttpMetrics(metrics::Registry& registry)
    : connections_open(registry.gauge("ssehub_connections_open", "TCP connections currently open.")),
      requests(registry.counter("ssehub_http_requests_total", "HTTP requests parsed.")),
      request_body_bytes_buffered(registry.gauge(
          "ssehub_request_body_bytes_buffered",
          "Bytes of request bodies held in memory, of --max-buffered-body-bytes.")),
      rejected(registry.counters(
          "ssehub_requests_rejected_total", "Requests refused, by reason.", "reason",
          // In the order of RejectReason.
          {"bad_request", "not_found", "method_not_allowed", "body_too_large", "headers_too_large",
           "too_many_streams", "timeout", "unavailable", "conflict", "unauthenticated", "forbidden",
           "rate_limited", "too_many_connections", "uri_too_long", "not_implemented",
           "host_not_allowed", "body_memory"})) {}

std::optional<RejectReason> reject_reason_of(boost::beast::http::status code) {
  using boost::beast::http::status;
  switch (code) {
    case status::bad_request: return RejectReason::BadRequest;
    case status::not_found: return RejectReason::NotFound;
    case status::method_not_allowed: return RejectReason::MethodNotAllowed;
    case status::payload_too_large: return RejectReason::BodyTooLarge;
    case status::request_header_fields_too_large: return RejectReason::HeadersTooLarge;
    case status::too_many_requests: return RejectReason::TooManyStreams;
    case status::request_timeout: return RejectReason::Timeout;
    case status::service_unavailable: return RejectReason::Unavailable;
    case status::conflict: return RejectReason::Conflict;
    case status::unauthorized: return RejectReason::Unauthenticated;
    case status::forbidden: return RejectReason::Forbidden;
    case status::uri_too_long: return RejectReason::UriTooLong;
    case status::not_implemented: return RejectReason::NotImplemented;
    case status::http_version_not_supported: return RejectReason::BadRequest;
    default: return std::nullopt;
  }
}

}  // namespace ssehub::http
