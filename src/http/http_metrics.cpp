#include "http/http_metrics.hpp"

namespace ssehub::http {

namespace beast_http = boost::beast::http;

std::vector<std::string> protocol_label_values() { return {"http/1.1", "h2"}; }

std::optional<RejectReason> reject_reason_of(beast_http::status status) {
  switch (status) {
    case beast_http::status::bad_request: return RejectReason::BadRequest;
    case beast_http::status::not_found: return RejectReason::NotFound;
    case beast_http::status::method_not_allowed: return RejectReason::MethodNotAllowed;
    case beast_http::status::payload_too_large: return RejectReason::BodyTooLarge;
    case beast_http::status::request_header_fields_too_large: return RejectReason::HeadersTooLarge;
    case beast_http::status::too_many_requests: return RejectReason::TooManyStreams;
    case beast_http::status::request_timeout: return RejectReason::Timeout;
    case beast_http::status::service_unavailable: return RejectReason::Unavailable;
    case beast_http::status::conflict: return RejectReason::Conflict;
    case beast_http::status::unauthorized: return RejectReason::Unauthenticated;
    case beast_http::status::forbidden: return RejectReason::Forbidden;
    case beast_http::status::uri_too_long: return RejectReason::UriTooLong;
    case beast_http::status::not_implemented: return RejectReason::NotImplemented;
    case beast_http::status::http_version_not_supported: return RejectReason::BadRequest;
    default: return std::nullopt;
  }
}

HttpMetrics::HttpMetrics(metrics::Registry& registry)
    : connections_open(registry.gauge("ssehub_connections_open", "TCP connections currently open.")),
      http2_connections_open(registry.gauge(
          "ssehub_http2_connections_open",
          "Of the open connections, those speaking HTTP/2 (each may carry many streams).")),
      requests(registry.counters("ssehub_http_requests_total", "HTTP requests parsed, by protocol.",
                                 "protocol", protocol_label_values())),
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

}  // namespace ssehub::http
