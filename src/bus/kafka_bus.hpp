#pragma once

#include "bus/event_bus.hpp"
#include "history/id_authority.hpp"
#include "kafka/support.hpp"

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
  std::chrono::milliseconds publish_timeout{10000};
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
  explicit KafkaBus(KafkaBusOptions options);
  ~KafkaBus() override;

  // Applies the bus to `history`; `applied` is what that history already holds (the
  // positions stored in its EventLog).
  void start(history::History& history, std::vector<core::LogPosition> applied);
  void stop();

  core::Admission publish(std::vector<core::EventDraft> drafts, boost::asio::any_io_executor executor,
                             history::History::AppendDone done) override;
  // The cluster answers and this node has applied the log up to where it was at start-up.
  bool ready() const override;

  // Whether `id` may have been issued on the partition of `stream`: at most that partition's
  // end in the cluster (asks the broker when the cached end is lower). Blocking: call it from
  // a history thread, not an I/O thread.
  bool may_have_issued(const std::string& stream, std::uint64_t id) override;

 private:
  struct Publication;
  class DeliveryReports;

  void run_producer_events();
  void run_consumer();
  bool assign_partitions();
  void apply(std::vector<core::EventDraft> drafts, std::vector<core::LogPosition> positions);
  void note_end(std::int32_t partition, std::int64_t next_offset);
  void refresh_ends();

  KafkaBusOptions options_;
  history::History* history_ = nullptr;
  std::unique_ptr<DeliveryReports> delivery_reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  std::atomic<int> partition_count_{0};
  // Per partition, the highest next-offset seen in the cluster: ids up to it were issued.
  static constexpr int kMaxPartitions = 4096;
  std::unique_ptr<std::atomic<std::int64_t>[]> partition_ends_{new std::atomic<std::int64_t>[kMaxPartitions]{}};
  kafka::LogEvents events_{"bus"};
  std::atomic<bool> running_{false};
  std::atomic<bool> cluster_up_{false};
  std::atomic<bool> caught_up_{false};
  // False once the producer hit a fatal error (it then refuses every event): the node must
  // leave the load balancer, and be restarted.
  std::atomic<bool> producer_usable_{true};
  std::thread producer_thread_;
  std::thread consumer_thread_;
  kafka::RateLimitedLog log_{std::chrono::seconds(60)};
};

}  // namespace ssehub::bus
