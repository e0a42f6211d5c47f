#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ssehub {

// A monotonically increasing count. Relaxed atomics: exposition needs no ordering.
class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::int64_t> value_{0};
};

// Fixed buckets in seconds, Prometheus-style cumulative on exposition.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     0.25,   0.5,     1.0,    2.5};
  void observe(std::chrono::nanoseconds elapsed);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Gauges whose label values are known only at run time (Kafka partitions): set by one
// thread, read at scrape time. Labels are rendered as given: `topic="t",partition="0"`.
class LabeledGauges {
 public:
  void set(const std::string& labels, std::int64_t value);
  // Replaces every series at once (series no longer set disappear).
  void replace(std::map<std::string, std::int64_t> series);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::int64_t> series_;
};

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
  Count
};
const char* reject_reason_label(RejectReason reason);

// Why a Kafka record was skipped; one label value each on ssehub_kafka_records_skipped_total.
enum class SkipReason {
  NoColon,
  EmptyUsername,
  InvalidUtf8,
  TooLarge,
  InvalidJson,
  InvalidReportId,
  InvalidStatus,
  UnknownReport,
  InvalidTransition,
  EmptyMessage,
  InvalidUsername,
  Count
};
const char* skip_reason_label(SkipReason reason);

// Every metric of ssehub, declared together; one instance per process.
struct Metrics {
  Gauge streams_open;             // SSE streams currently open
  Gauge users_connected;          // users with at least one open stream
  Gauge connections_open;         // TCP connections, streams included
  Counter events_accepted;        // events durably stored and handed to fan-out
  Counter events_delivered;       // event frames written to a client socket
  Counter resumes;                // streams that resumed from a Last-Event-ID
  Counter resets;                 // resumes that could not be served from history
  Counter queue_overflows;        // streams closed because their write queue was full
  Counter history_commits;        // group commits of the history writer
  Counter history_write_errors;   // failed group commits (each fails its publishes with 503)
  Gauge history_wal_frames_behind;  // WAL frames the last checkpoint could not copy back
  Gauge history_memory_bytes;       // what the in-memory history holds (--history-store memory)
  Counter http_requests;          // requests parsed, streams included
  Gauge request_body_bytes_buffered;  // request bodies held in memory (--max-buffered-body-bytes)
  std::array<Counter, static_cast<std::size_t>(RejectReason::Count)> rejected;
  LatencyHistogram accept_to_write;  // from accepting a publish to writing it to one client
  // Kafka records skipped (v3/v4 ingestion), by bus::SkipReason.
  std::array<Counter, static_cast<std::size_t>(SkipReason::Count)> kafka_records_skipped;
  Counter kafka_records_ingested;  // Kafka records turned into events or status changes
  Counter kafka_consumer_restarts;  // ingest consumers rebuilt after a fatal error
  LabeledGauges kafka_consumer_lag;  // records behind the high watermark, per topic/partition
  Counter reports_transitions;    // report status changes applied (v4)

  void reject(RejectReason reason) { rejected[static_cast<std::size_t>(reason)].add(); }
  void skip(SkipReason reason) { kafka_records_skipped[static_cast<std::size_t>(reason)].add(); }
  std::string render_prometheus() const;
};

}  // namespace ssehub
