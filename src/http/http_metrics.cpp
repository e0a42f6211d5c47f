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

}  // namespace ssehub::http
