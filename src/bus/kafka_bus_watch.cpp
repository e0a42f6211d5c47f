// The Kafka bus's watch thread: probes the cluster, tracks partition ends and this node's lag.
#include "bus/kafka_bus.hpp"

#include <spdlog/spdlog.h>

#include <librdkafka/rdkafka.h>

#include <thread>

namespace ssehub::bus {

namespace {

constexpr auto kWatchPeriod = std::chrono::milliseconds(250);

}  // namespace

void KafkaBus::note_end(std::int32_t partition, std::int64_t next_offset) {
  if (partition < 0 || partition >= kMaxPartitions) return;
  auto& end = partition_ends_[partition];
  std::int64_t known = end.load();
  while (next_offset > known && !end.compare_exchange_weak(known, next_offset)) {
  }
}

std::vector<std::int64_t> KafkaBus::refresh_ends(RdKafka::Handle& handle,
                                                 std::chrono::milliseconds timeout) {
  const auto ends = kafka::end_offsets(handle, options_.topic, partition_count_, timeout);
  for (std::size_t partition = 0; partition < ends.size(); ++partition)
    if (ends[partition] >= 0) note_end(static_cast<std::int32_t>(partition), ends[partition]);
  return ends;
}

void KafkaBus::note_applied(std::int32_t partition, std::int64_t next_offset) {
  if (partition >= 0 && partition < kMaxPartitions) partition_applied_[partition] = next_offset;
}

void KafkaBus::update_lag() {
  const int partitions = partition_count_;
  std::vector<std::int64_t> ends(partitions), applied(partitions);
  for (int partition = 0; partition < partitions; ++partition) {
    ends[partition] = partition_ends_[partition].load();
    applied[partition] = partition_applied_[partition].load();
  }
  const auto lag = lag_.update(std::chrono::steady_clock::now(), ends, applied);
  const bool was_behind = lag_ms_->load() > options_.max_ready_lag.count();
  lag_ms_->store(lag.count());
  const bool behind = lag > options_.max_ready_lag;
  if (behind && !was_behind)
    spdlog::warn("bus: this node is {} ms behind what Kafka holds; /readyz says not ready until "
                 "it catches up", lag.count());
  else if (was_behind && !behind)
    spdlog::info("bus: caught up with what Kafka holds again");
}

void KafkaBus::run_watch() {
  while (running_) {
    const auto started = std::chrono::steady_clock::now();
    if (partition_count_ > 0) {
      const bool up = kafka::cluster_answers(*producer_, std::chrono::milliseconds(1000));
      if (up != cluster_up_) spdlog::info("bus: Kafka cluster {}", up ? "reachable" : "unreachable");
      cluster_up_ = up;
      if (up) {
        note_brokers_down(false);
        // Asked through the producer: the consumer's cached watermarks stop moving exactly
        // when its own connection is the one that is stuck.
        refresh_ends(*producer_, std::chrono::milliseconds(1000));
      }
      update_lag();
    }
    expire_keyed();
    std::this_thread::sleep_until(started + kWatchPeriod);
  }
}

bool KafkaBus::may_have_issued(const std::string& stream, std::uint64_t id) {
  const int partitions = partition_count_;
  if (partitions <= 0) return true;  // not assigned yet: cannot tell, so wait
  // The producer's partitioner (murmur2, as Kafka's Java clients use) places the stream.
  const std::int32_t partition = rd_kafka_msg_partitioner_murmur2(
      nullptr, stream.data(), stream.size(), partitions, nullptr, nullptr);
  if (static_cast<std::int64_t>(id) <= partition_ends_[partition].load()) return true;
  // Known unreachable: asking would only wait out the timeout to learn nothing.
  if (brokers_down_ || !cluster_up_) return true;
  // One request asks the leader for every partition's end, as cheaply as for this one.
  const auto ends = refresh_ends(*consumer_, std::chrono::milliseconds(2000));
  const auto index = static_cast<std::size_t>(partition);
  const std::int64_t high = index < ends.size() ? ends[index] : -1;
  if (high < 0) return true;  // cannot ask: wait rather than reset a client that may be right
  return static_cast<std::int64_t>(id) <= high;
}

}  // namespace ssehub::bus
