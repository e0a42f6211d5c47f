// The Kafka bus's consumer thread: assigns every partition and applies what it reads to history.
#include "bus/kafka_bus.hpp"
#include "bus/kafka_record_headers.hpp"

#include "core/clock.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

namespace ssehub::bus {

using namespace kafka_record_headers;

namespace {

constexpr std::size_t kMaxBatch = 2000;

}  // namespace

bool KafkaBus::assign_partitions() {
  int partitions = 0;
  try {
    partitions = kafka::ensure_topic(*producer_, options_.topic, options_.partitions,
                                     std::chrono::milliseconds(5000));
  } catch (const std::exception& e) {
    log_.warn("bus-topic", std::string("bus: ") + e.what() + "; retrying");
    return false;
  }
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int partition = 0; partition < partitions; ++partition) {
    auto it = next_offsets_.find(partition);
    assignment.push_back(RdKafka::TopicPartition::create(
        options_.topic, partition,
        it == next_offsets_.end() ? RdKafka::Topic::OFFSET_BEGINNING : it->second));
  }
  const auto code = consumer_->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  if (code != RdKafka::ERR_NO_ERROR) {
    log_.warn("bus-assign", "bus: cannot assign partitions: " + RdKafka::err2str(code));
    return false;
  }
  partition_count_ = std::min(partitions, kMaxPartitions);
  spdlog::info("bus: reading {} partitions of {}", partitions, options_.topic);
  return true;
}

std::vector<std::uint64_t> KafkaBus::apply(std::vector<core::EventDraft> drafts,
                                           std::vector<core::LogPosition> positions) {
  // Applied in order, one batch at a time; a failed batch is retried, never skipped, since
  // skipping would lose events that Kafka acknowledged.
  for (auto backoff = std::chrono::milliseconds(50); running_;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(2000))) {
    std::promise<history::AppendResult> promise;
    auto future = promise.get_future();
    const auto admission = history_->append(
        drafts, {},
        [&promise](history::AppendResult result) { promise.set_value(std::move(result)); },
        positions);
    if (admission == core::Admission::Queued) {
      auto result = future.get();
      if (result.ok) return std::move(result.ids);
      log_.warn("bus-apply", "bus: storing events failed: " + result.error + "; retrying");
    } else if (admission == core::Admission::Stopped) {
      return {};
    }
    std::this_thread::sleep_for(backoff);
  }
  return {};
}

void KafkaBus::run_consumer() {
  bool assigned = false;
  std::set<std::int32_t> partitions_at_end;
  while (running_) {
    if (!assigned) {
      assigned = assign_partitions();
      cluster_up_ = assigned;
      if (!assigned) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
    }
    std::vector<core::EventDraft> drafts;
    std::map<std::int32_t, std::int64_t> positions;
    // Keyed records this node produced: index in drafts, partition, offset.
    std::vector<std::tuple<std::size_t, std::int32_t, std::int64_t>> ours;
    for (int timeout = 100; drafts.size() < kMaxBatch; timeout = 0) {
      std::unique_ptr<RdKafka::Message> message(consumer_->consume(timeout));
      if (message->err() == RdKafka::ERR__TIMED_OUT) break;
      if (message->err() == RdKafka::ERR__PARTITION_EOF) {
        partitions_at_end.insert(message->partition());
        if (!caught_up_ && partitions_at_end.size() >= static_cast<std::size_t>(partition_count_)) {
          // Every partition reported its end at least once: the backlog is applied.
          caught_up_ = true;
          spdlog::info("bus: caught up with {}", options_.topic);
        }
        continue;
      }
      if (message->err() != RdKafka::ERR_NO_ERROR) {
        log_.warn("bus-consume", "bus: " + message->errstr());
        break;
      }
      core::EventDraft draft;
      if (message->key()) draft.stream = *message->key();
      draft.data.assign(static_cast<const char*>(message->payload()), message->len());
      draft.id = static_cast<std::uint64_t>(message->offset()) + 1;
      if (auto* headers = message->headers()) {
        const auto type = headers->get_last(kTypeHeader);
        if (type.err() == RdKafka::ERR_NO_ERROR && type.value())
          draft.type.assign(static_cast<const char*>(type.value()), type.value_size());
        const auto key = headers->get_last(kDedupeHeader);
        if (key.err() == RdKafka::ERR_NO_ERROR && key.value())
          draft.dedupe_key.assign(static_cast<const char*>(key.value()), key.value_size());
        const auto node = headers->get_last(kNodeHeader);
        if (node.err() == RdKafka::ERR_NO_ERROR && node.value() && !draft.stream.empty() &&
            std::string_view(static_cast<const char*>(node.value()), node.value_size()) == node_id_)
          ours.emplace_back(drafts.size(), message->partition(), message->offset());
      }
      // The latency metric measures from the produce on whichever node accepted the event.
      const auto age = std::chrono::milliseconds(std::max<std::int64_t>(
          0, core::unix_millis_now() - message->timestamp().timestamp));
      draft.accepted_at = core::SteadyClock::now() - age;
      positions[message->partition()] = message->offset() + 1;
      note_end(message->partition(), message->offset() + 1);
      next_offsets_[message->partition()] = message->offset() + 1;
      if (!draft.stream.empty()) drafts.push_back(std::move(draft));
    }
    if (positions.empty()) continue;
    std::vector<core::LogPosition> applied;
    for (const auto& [partition, next] : positions) applied.push_back({partition, next});
    const auto ids = apply(std::move(drafts), applied);
    for (const auto& [index, partition, offset] : ours)
      if (index < ids.size()) note_keyed_applied(partition, offset, ids[index]);
    for (const auto& position : applied) note_applied(position.partition, position.next_offset);
  }
}

}  // namespace ssehub::bus
