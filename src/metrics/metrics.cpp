#include "metrics/metrics.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sqlite3.h>

#include <filesystem>

namespace ssehub {

void LatencyHistogram::observe(std::chrono::nanoseconds elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())),
                    std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, const std::string& name,
                              const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name,
                     static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name,
                     cumulative);
}

void LabeledGauges::set(const std::string& labels, std::int64_t value) {
  std::lock_guard lock(mutex_);
  series_[labels] = value;
}

void LabeledGauges::replace(std::map<std::string, std::int64_t> series) {
  std::lock_guard lock(mutex_);
  series_ = std::move(series);
}

void LabeledGauges::render(std::string& out, const std::string& name, const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, value] : series_) out += fmt::format("{}{{{}}} {}\n", name, labels, value);
}

const char* reject_reason_label(RejectReason reason) {
  switch (reason) {
    case RejectReason::BadRequest: return "bad_request";
    case RejectReason::NotFound: return "not_found";
    case RejectReason::MethodNotAllowed: return "method_not_allowed";
    case RejectReason::BodyTooLarge: return "body_too_large";
    case RejectReason::HeadersTooLarge: return "headers_too_large";
    case RejectReason::TooManyStreams: return "too_many_streams";
    case RejectReason::Timeout: return "timeout";
    case RejectReason::Unavailable: return "unavailable";
    case RejectReason::Conflict: return "conflict";
    case RejectReason::Unauthenticated: return "unauthenticated";
    case RejectReason::Forbidden: return "forbidden";
    case RejectReason::RateLimited: return "rate_limited";
    case RejectReason::TooManyConnections: return "too_many_connections";
    case RejectReason::UriTooLong: return "uri_too_long";
    case RejectReason::NotImplemented: return "not_implemented";
    case RejectReason::HostNotAllowed: return "host_not_allowed";
    case RejectReason::BodyMemory: return "body_memory";
    case RejectReason::Count: break;
  }
  return "unknown";
}

const char* skip_reason_label(SkipReason reason) {
  switch (reason) {
    case SkipReason::NoColon: return "no_colon";
    case SkipReason::EmptyUsername: return "empty_username";
    case SkipReason::InvalidUtf8: return "invalid_utf8";
    case SkipReason::TooLarge: return "too_large";
    case SkipReason::InvalidJson: return "invalid_json";
    case SkipReason::InvalidReportId: return "invalid_report_id";
    case SkipReason::InvalidStatus: return "invalid_status";
    case SkipReason::UnknownReport: return "unknown_report";
    case SkipReason::InvalidTransition: return "invalid_transition";
    case SkipReason::EmptyMessage: return "empty_message";
    case SkipReason::InvalidUsername: return "invalid_username";
    case SkipReason::Count: break;
  }
  return "unknown";
}

namespace {
void render_value(std::string& out, const char* name, const char* type, const char* help,
                  std::int64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}
}  // namespace

std::string Metrics::render_prometheus() const {
  std::string out;
  out.reserve(4096);
  auto counter = [&](const char* name, const char* help, const Counter& c) {
    render_value(out, name, "counter", help, static_cast<std::int64_t>(c.value()));
  };
  auto gauge = [&](const char* name, const char* help, const Gauge& g) {
    render_value(out, name, "gauge", help, g.value());
  };
  gauge("ssehub_streams_open", "SSE streams currently open.", streams_open);
  gauge("ssehub_users_connected", "Users with at least one open stream.", users_connected);
  gauge("ssehub_connections_open", "TCP connections currently open.", connections_open);
  counter("ssehub_events_accepted_total", "Events durably stored and fanned out.", events_accepted);
  counter("ssehub_events_delivered_total", "Event frames written to client sockets.",
          events_delivered);
  counter("ssehub_resumes_total", "Streams resumed from a Last-Event-ID.", resumes);
  counter("ssehub_resets_total", "Resumes that history could not serve (reset sent).", resets);
  counter("ssehub_queue_overflows_total", "Streams closed because their write queue was full.",
          queue_overflows);
  counter("ssehub_history_commits_total", "Group commits of the history writer.", history_commits);
  counter("ssehub_history_write_errors_total", "Failed history group commits.",
          history_write_errors);
  gauge("ssehub_history_wal_frames_behind",
        "History WAL frames the last checkpoint could not copy into the database.",
        history_wal_frames_behind);
  gauge("ssehub_history_memory_bytes",
        "Bytes the in-memory history holds, bookkeeping included (--history-store memory).",
        history_memory_bytes);
  counter("ssehub_http_requests_total", "HTTP requests parsed.", http_requests);
  gauge("ssehub_request_body_bytes_buffered",
        "Bytes of request bodies held in memory, of --max-buffered-body-bytes.",
        request_body_bytes_buffered);
  counter("ssehub_kafka_records_ingested_total", "Kafka records turned into events or changes.",
          kafka_records_ingested);
  counter("ssehub_kafka_consumer_restarts_total",
          "Kafka ingest consumers rebuilt after a fatal error (e.g. a fenced static member).",
          kafka_consumer_restarts);
  counter("ssehub_report_transitions_total", "Report status changes applied.",
          reports_transitions);
  kafka_consumer_lag.render(out, "ssehub_kafka_consumer_lag",
                            "Records of a v3/v4 topic partition not consumed yet (high watermark "
                            "minus the consumer's position).");
  out += "# HELP ssehub_requests_rejected_total Requests refused, by reason.\n"
         "# TYPE ssehub_requests_rejected_total counter\n";
  for (std::size_t i = 0; i < rejected.size(); ++i) {
    out += fmt::format("ssehub_requests_rejected_total{{reason=\"{}\"}} {}\n",
                       reject_reason_label(static_cast<RejectReason>(i)), rejected[i].value());
  }
  out += "# HELP ssehub_kafka_records_skipped_total Malformed Kafka records skipped, by reason.\n"
         "# TYPE ssehub_kafka_records_skipped_total counter\n";
  for (std::size_t i = 0; i < kafka_records_skipped.size(); ++i) {
    out += fmt::format("ssehub_kafka_records_skipped_total{{reason=\"{}\"}} {}\n",
                       skip_reason_label(static_cast<SkipReason>(i)), kafka_records_skipped[i].value());
  }
  // Where the process's memory goes, read at scrape time: SQLite's page caches and the heap
  // (in use, and freed but kept by the allocator), so RSS growth can be told apart.
  render_value(out, "ssehub_sqlite_memory_bytes", "gauge",
               "Memory SQLite holds (page caches of every connection, statements).",
               sqlite3_memory_used());
  const struct mallinfo2 heap = mallinfo2();
  render_value(out, "ssehub_heap_in_use_bytes", "gauge", "Heap bytes allocated and not freed.",
               static_cast<std::int64_t>(heap.uordblks + heap.hblkhd));
  render_value(out, "ssehub_heap_free_bytes", "gauge",
               "Heap bytes freed but kept by the allocator (fragmentation, arenas).",
               static_cast<std::int64_t>(heap.fordblks));
  // The process's file descriptors against its limit: streams and connections use one each.
  std::error_code ec;
  std::int64_t open_fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++open_fds;
  render_value(out, "process_open_fds", "gauge", "Open file descriptors.", open_fds);
  struct rlimit limit {};
  getrlimit(RLIMIT_NOFILE, &limit);
  render_value(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               static_cast<std::int64_t>(limit.rlim_cur));
  accept_to_write.render(out, "ssehub_accept_to_write_seconds",
                         "Time from accepting a publish to writing it to a client socket.");
  return out;
}

}  // namespace ssehub
