#pragma once

#include "bus/event_bus.hpp"
#include "ingest/record_parser.hpp"
#include "kafka/support.hpp"
#include "metrics/metrics.hpp"
#include "reports/report_service.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace ssehub::ingest {

struct KafkaIngestOptions {
  std::string brokers;
  std::string group = "server_sent_events_v3";
  std::string v3_topic = "v3_messages";
  std::string v4_topic = "v4_messages";
  std::size_t max_record_bytes = 64 * 1024;
  std::size_t max_username_bytes = 256;
  std::size_t max_event_bytes = 60 * 1024;
  std::string instance_id;  // stable per node (static group membership)
  // A missing v3/v4 topic is created at start with these (replication -1: the broker's
  // default); where the cluster does not allow it, a topic created later is still found
  // within `metadata_refresh`.
  int topic_partitions = 1;
  int topic_replication = -1;
  std::chrono::milliseconds metadata_refresh{5000};
};

// What ingestion counts.
struct IngestMetrics {
  explicit IngestMetrics(metrics::Registry& registry);
  metrics::CounterFamily& records_skipped;    // by SkipReason
  metrics::Counter& records_ingested;         // turned into events or status changes
  metrics::Counter& consumer_restarts;        // consumers rebuilt after a fatal error
  metrics::LabeledGauges& consumer_lag;       // records behind, per topic/partition
};

// Turns records of the v3 topic (`username:message`) into v3 events and records of the v4
// topic (`{"id", "status"}`) into report status changes, in a consumer group on a thread of
// its own. A record's offset is committed only after its event is durable, so a crash or an
// outage replays rather than loses; a replayed v3 record carries its topic/partition/offset as
// a dedupe key, so history stores it once (effectively exactly-once within the history
// retention). Malformed records are counted, logged at most once per kind per minute, and
// skipped; they never stop the consumer.
class KafkaIngest {
 public:
  KafkaIngest(KafkaIngestOptions options, bus::EventBus& bus, reports::ReportService& reports,
              metrics::Registry& registry);
  ~KafkaIngest();

  void start();
  void stop();
  bool ready() const { return cluster_up_ && consumer_usable_; }

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> create_consumer();
  void subscribe();  // to the v3 and v4 topics
  void run();
  // After a fatal error librdkafka's consumer never consumes again: replaces it, with
  // backoff, until a new one is subscribed or the ingest stops.
  void replace_consumer(const std::string& why);
  // Handles one batch; false when it must be retried (nothing durable yet).
  bool handle(const std::vector<std::unique_ptr<RdKafka::Message>>& batch);
  // Creates the topics that are missing (once, on the ingest thread, so that start-up never
  // waits for the cluster).
  void create_missing_topics();
  // Records between the consumer's position and each assigned partition's high watermark,
  // from what librdkafka already knows (no request to the cluster).
  void measure_lag();
  void skip(SkipReason reason, const RdKafka::Message& message, const std::string& why);

  KafkaIngestOptions options_;
  bus::EventBus& bus_;
  reports::ReportService& reports_;
  IngestMetrics metrics_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> running_{false};
  std::atomic<bool> cluster_up_{false};
  std::atomic<bool> consumer_usable_{true};
  bool topics_checked_ = false;
  // Per topic/partition, the offset after the last record made durable (for the lag).
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> consumed_next_;
  std::chrono::seconds replace_backoff_{1};
  std::chrono::steady_clock::time_point last_replacement_{};
  std::thread thread_;
  kafka::RateLimitedLog log_{std::chrono::seconds(60)};
  kafka::LogEvents events_{"kafka"};
};

}  // namespace ssehub::ingest
