#pragma once

#include "bus/bus_lag.hpp"
#include "bus/event_bus.hpp"
#include "history/id_authority.hpp"
#include "kafka/support.hpp"
#include "metrics/metrics.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace ssehub::bus {

struct KafkaBusOptions {
  std::string brokers;
  std::string topic = "ssehub_events";
  int partitions = 12;
  // How long a publish waits for Kafka's acknowledgement before it is answered 503 (the
  // event may still be delivered: a retry with the same Idempotency-Key is safe).
  std::chrono::milliseconds confirm_timeout{1500};
  // A node further behind the bus than this says not ready, so a load balancer moves its
  // streams to nodes that deliver.
  std::chrono::milliseconds max_ready_lag{1000};
};

// Kafka as the bus between ssehub nodes. A publish is produced to one topic keyed by stream
// (so one user's events share a partition and its order) and acknowledged once Kafka has it
// (acks=all). Every node reads every partition and applies the records to its own history
// with id = offset + 1: the same event has the same id on every node, so a client resumes
// on any node. Where each partition was applied up to is stored with the events, so a
// restarted node continues exactly where it stopped, and a new node rebuilds from the log.
// It is also history's IdAuthority: it numbers the events, so it knows which ids exist.
class KafkaBus final : public EventBus, public history::IdAuthority {
 public:
  KafkaBus(KafkaBusOptions options, metrics::Registry& metrics);
  ~KafkaBus() override;

  // Applies the bus to `history`; `applied` is what that history already holds (the
  // positions stored in its EventLog).
  void start(history::History& history, std::vector<core::LogPosition> applied);
  void stop();

  core::Admission publish(std::vector<core::EventDraft> drafts, boost::asio::any_io_executor executor,
                             history::History::AppendDone done) override;
  // The cluster answers, this node has applied the log up to where it was at start-up, and
  // it is not more than max_ready_lag behind what the cluster holds.
  bool ready() const override;

  // How long the oldest record this node knows the cluster holds has waited to be applied
  // here (zero when it applied everything it knows of).
  std::chrono::milliseconds lag() const;

  // Whether `id` may have been issued on the partition of `stream`: at most that partition's
  // end in the cluster (asks the broker when the cached end is lower). Blocking: call it from
  // a history thread, not an I/O thread.
  bool may_have_issued(const std::string& stream, std::uint64_t id) override;

 private:
  struct Publication;
  class DeliveryReports;
  class ProducerEvents;

  void run_producer_events();
  // Probes the cluster through the producer (whose connections are not the consumer's) and
  // measures how far the consumer is behind what the cluster holds.
  void run_watch();
  void note_brokers_down(bool down);
  void note_applied(std::int32_t partition, std::int64_t next_offset);
  void update_lag();
  // A record carrying an Idempotency-Key is answered with the id history gave it when this
  // node applied it (the original id when the key was stored before, on any node), not with
  // its own offset: the publisher's answer waits for the record to come back.
  void settle_keyed(std::shared_ptr<Publication> publication, std::size_t index,
                    std::int32_t partition, std::int64_t offset);
  void note_keyed_applied(std::int32_t partition, std::int64_t offset, std::uint64_t id);
  void expire_keyed();
  void run_consumer();
  bool assign_partitions();
  // The ids history gave the drafts (empty when the bus stopped first).
  std::vector<std::uint64_t> apply(std::vector<core::EventDraft> drafts,
                                   std::vector<core::LogPosition> positions);
  void note_end(std::int32_t partition, std::int64_t next_offset);
  // Asks the cluster for every partition's end (bounded by `timeout`) and notes them;
  // returns them, -1 where unknown.
  std::vector<std::int64_t> refresh_ends(RdKafka::Handle& handle,
                                         std::chrono::milliseconds timeout);

  KafkaBusOptions options_;
  history::History* history_ = nullptr;
  std::unique_ptr<DeliveryReports> delivery_reports_;
  std::unique_ptr<ProducerEvents> producer_events_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  std::atomic<int> partition_count_{0};
  // Per partition, the highest next-offset seen in the cluster: ids up to it were issued.
  static constexpr int kMaxPartitions = 4096;
  std::unique_ptr<std::atomic<std::int64_t>[]> partition_ends_{new std::atomic<std::int64_t>[kMaxPartitions]{}};
  // Per partition, the next offset this node has applied (-1: none yet).
  std::unique_ptr<std::atomic<std::int64_t>[]> partition_applied_{new std::atomic<std::int64_t>[kMaxPartitions]{}};
  BusLag lag_;  // run_watch's thread only
  // Shared with the metrics collector, which may outlive the bus.
  std::shared_ptr<std::atomic<std::int64_t>> lag_ms_ = std::make_shared<std::atomic<std::int64_t>>(0);
  kafka::LogEvents events_{"bus"};
  std::atomic<bool> running_{false};
  std::atomic<bool> cluster_up_{false};
  std::atomic<bool> caught_up_{false};
  // The producer reported every broker down (librdkafka's ALL_BROKERS_DOWN) and no delivery
  // or metadata answer since: publishes are refused at once instead of waiting for a timeout.
  std::atomic<bool> brokers_down_{false};
  // False once the producer hit a fatal error (it then refuses every event): the node must
  // leave the load balancer, and be restarted.
  std::atomic<bool> producer_usable_{true};
  std::thread producer_thread_;
  std::thread consumer_thread_;
  std::thread watch_thread_;
  // This process among the nodes: its keyed records are the ones whose apply it awaits.
  std::string node_id_;
  struct KeyedWait {
    std::shared_ptr<Publication> publication;
    std::size_t index;
    std::chrono::steady_clock::time_point since;
  };
  struct KeyedApplied {
    std::uint64_t id;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex keyed_mutex_;
  // By (partition, offset): delivered keyed records not applied yet, and keyed records of this
  // node applied before their delivery report was served (both kept a few seconds at most).
  std::map<std::pair<std::int32_t, std::int64_t>, KeyedWait> keyed_waits_;
  std::map<std::pair<std::int32_t, std::int64_t>, KeyedApplied> keyed_applied_;
  kafka::RateLimitedLog log_{std::chrono::seconds(60)};
};

}  // namespace ssehub::bus
