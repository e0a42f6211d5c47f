#include "ingest/kafka_ingest.hpp"

#include "core/thread.hpp"
#include "ingest/record_parser.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace ssehub::ingest {

namespace {

constexpr std::size_t kMaxBatch = 500;

// Offsets of the partitions this consumer owns now. A partition lost to a session timeout
// is no longer ours to commit: the broker rejects that commit, and librdkafka 2.0 takes the
// rejection of a static member as fatal (librdkafka#5585). Whoever owns it next reads those
// records again from the last commit, and history recognises them by their keys.
std::vector<RdKafka::TopicPartition*> owned_offsets(
    RdKafka::KafkaConsumer& consumer,
    const std::map<std::pair<std::string, std::int32_t>, std::int64_t>& next) {
  std::vector<RdKafka::TopicPartition*> offsets;
  if (consumer.assignment_lost()) return offsets;
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer.assignment(assigned) != RdKafka::ERR_NO_ERROR) return offsets;
  for (const auto& [where, offset] : next) {
    // Named copies: clang before 16 cannot capture structured bindings.
    const std::string& topic = where.first;
    const std::int32_t number = where.second;
    const bool owned = std::any_of(assigned.begin(), assigned.end(), [&](const auto* partition) {
      return partition->topic() == topic && partition->partition() == number;
    });
    if (owned) offsets.push_back(RdKafka::TopicPartition::create(topic, number, offset));
  }
  RdKafka::TopicPartition::destroy(assigned);
  return offsets;
}

}  // namespace

IngestMetrics::IngestMetrics(metrics::Registry& registry)
    : records_skipped(registry.counters("ssehub_kafka_records_skipped_total",
                                        "Malformed Kafka records skipped, by reason.", "reason", [] {
                                          std::vector<std::string> labels;
                                          for (int i = 0; i < static_cast<int>(SkipReason::Count); ++i)
                                            labels.emplace_back(skip_reason_label(static_cast<SkipReason>(i)));
                                          return labels;
                                        }())),
      records_ingested(registry.counter("ssehub_kafka_records_ingested_total",
                                        "Kafka records turned into events or changes.")),
      consumer_restarts(registry.counter(
          "ssehub_kafka_consumer_restarts_total",
          "Kafka ingest consumers rebuilt after a fatal error (e.g. a fenced static member).")),
      consumer_lag(registry.labeled_gauges(
          "ssehub_kafka_consumer_lag",
          "Records of a v3/v4 topic partition not consumed yet (high watermark minus the "
          "consumer's position).")) {}

KafkaIngest::KafkaIngest(KafkaIngestOptions options, bus::EventBus& bus,
                         reports::ReportService& reports, metrics::Registry& registry)
    : options_(std::move(options)), bus_(bus), reports_(reports), metrics_(registry) {}

KafkaIngest::~KafkaIngest() { stop(); }

std::unique_ptr<RdKafka::KafkaConsumer> KafkaIngest::create_consumer() {
  // Static membership: a node that restarts (even after kill -9) takes its partitions back
  // at once instead of stalling the group until the session times out.
  auto conf = kafka::make_conf(kafka::with_fast_reconnect(
      {{"bootstrap.servers", options_.brokers},
       {"client.id", "ssehub-ingest"},
       {"group.id", options_.group},
       {"group.instance.id", options_.instance_id},
       {"session.timeout.ms", "10000"},
       {"heartbeat.interval.ms", "1000"},
       {"enable.auto.commit", "false"},
       {"auto.offset.reset", "earliest"},
       {"fetch.wait.max.ms", "10"},
       // Topics are created on purpose, with --kafka-topic-partitions
       // (create_missing_topics), not by the broker's defaults.
       {"allow.auto.create.topics", "false"},
       // librdkafka looks for a subscribed topic that does not exist yet
       // only at this interval (default: 5 minutes).
       {"topic.metadata.refresh.interval.ms", std::to_string(options_.metadata_refresh.count())}}));
  std::string error;
  conf->set("event_cb", &events_, error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) throw std::runtime_error("kafka: cannot create consumer: " + error);
  return consumer;
}

void KafkaIngest::subscribe() {
  const auto code = consumer_->subscribe({options_.v3_topic, options_.v4_topic});
  if (code != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("kafka: cannot subscribe: " + RdKafka::err2str(code));
}

void KafkaIngest::start() {
  consumer_ = create_consumer();
  running_ = true;
  // Subscribing waits for the thread: it first creates missing topics, so that the
  // subscription finds them at once.
  thread_ = core::named_thread("kafka-ingest", [this] { run(); });
  spdlog::info("kafka: consuming {} and {} as group {}", options_.v3_topic, options_.v4_topic,
               options_.group);
}

void KafkaIngest::stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
  kafka::close_within(std::move(consumer_), std::chrono::seconds(2));
}

void KafkaIngest::skip(SkipReason reason, const RdKafka::Message& message, const std::string& why) {
  metrics_.records_skipped[reason].add();
  log_.warn(skip_reason_label(reason),
            fmt::format("kafka: skipped record {}/{}@{}: {}", message.topic_name(),
                        message.partition(), message.offset(), why));
}

bool KafkaIngest::handle(const std::vector<std::unique_ptr<RdKafka::Message>>& batch) {
  std::vector<core::EventDraft> drafts;
  std::vector<std::pair<std::future<reports::ReportOutcome>, const RdKafka::Message*>> changes;
  for (const auto& message : batch) {
    const std::string_view payload(static_cast<const char*>(message->payload()), message->len());
    if (message->topic_name() == options_.v3_topic) {
      auto parsed = parse_user_message(payload, options_.max_record_bytes, options_.max_username_bytes,
                                       options_.max_event_bytes);
      if (auto* reason = std::get_if<SkipReason>(&parsed)) {
        skip(*reason, *message, "not a `username:message` record");
        continue;
      }
      const auto& record = std::get<UserMessage>(parsed);
      core::EventDraft draft;
      draft.stream = core::stream_key("v3", record.username);
      draft.data = std::string(record.message);
      // A record read again (its offset commit was lost to a crash or an outage) is
      // recognised by history and not stored twice.
      draft.dedupe_key = fmt::format("kafka:{}:{}:{}", message->topic_name(), message->partition(),
                                     message->offset());
      drafts.push_back(std::move(draft));
      continue;
    }
    // v4: a status change, applied through the same state machine as PUT /v4/report.
    auto parsed = parse_status_record(payload, options_.max_record_bytes);
    if (auto* reason = std::get_if<SkipReason>(&parsed)) {
      skip(*reason, *message,
           fmt::format(R"(not a {{"id": UUID, "status": STATUS}} record ({}))",
                       skip_reason_label(*reason)));
      continue;
    }
    auto& change = std::get<domain::StatusChange>(parsed);
    auto promise = std::make_shared<std::promise<reports::ReportOutcome>>();
    changes.emplace_back(promise->get_future(), message.get());
    reports_.apply_change(std::move(change.report_id), change.status, {},
                          [promise](reports::ReportOutcome outcome) {
                            promise->set_value(std::move(outcome));
                          });
  }

  bool durable = true;
  std::size_t ingested = drafts.size();
  if (!drafts.empty()) {
    std::promise<history::AppendResult> promise;
    auto future = promise.get_future();
    const auto admission = bus_.publish(std::move(drafts), {}, [&promise](history::AppendResult result) {
      promise.set_value(std::move(result));
    });
    if (admission != core::Admission::Queued) {
      durable = false;
    } else if (auto result = future.get(); !result.ok) {
      log_.warn("ingest-store", "kafka: events not stored (" + result.error + "); will retry");
      durable = false;
    } else {
      ingested -= result.already_stored;  // read again after a lost commit: counted the first time
    }
  }
  for (auto& [future, message] : changes) {
    const auto outcome = future.get();
    using Kind = reports::ReportOutcome::Kind;
    switch (outcome.kind) {
      case Kind::Done: ++ingested; break;
      case Kind::NotFound: skip(SkipReason::UnknownReport, *message, "no such report"); break;
      case Kind::InvalidTransition:
        skip(SkipReason::InvalidTransition, *message,
             fmt::format("cannot change {} to {}", domain::to_string(outcome.report.status),
                         domain::to_string(outcome.requested)));
        break;
      case Kind::Unavailable:
      case Kind::Overloaded: durable = false; break;
    }
  }
  if (durable) metrics_.records_ingested.add(ingested);
  return durable;
}

void KafkaIngest::replace_consumer(const std::string& why) {
  consumer_usable_ = false;
  metrics_.consumer_restarts.add();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_replacement_ > std::chrono::minutes(5)) replace_backoff_ = std::chrono::seconds(1);
  last_replacement_ = now;
  spdlog::error("kafka: the ingest consumer stopped for good ({}); replacing it in {} s. A "
                "fenced member means another consumer of group {} uses group.instance.id {} "
                "(--kafka-instance-id must differ per node), or a commit raced a session "
                "timeout after an outage",
                why, replace_backoff_.count(), options_.group, options_.instance_id);
  kafka::close_within(std::move(consumer_), std::chrono::seconds(2));
  while (running_) {
    for (auto waited = std::chrono::milliseconds(0); running_ && waited < replace_backoff_;
         waited += std::chrono::milliseconds(100))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!running_) return;
    replace_backoff_ = std::min(replace_backoff_ * 2, std::chrono::seconds(30));
    try {
      consumer_ = create_consumer();
      subscribe();
      consumer_usable_ = true;
      spdlog::info("kafka: ingest consumer replaced; it resumes from the committed offsets");
      return;
    } catch (const std::exception& e) {
      spdlog::warn("{}; trying again in {} s", e.what(), replace_backoff_.count());
    }
  }
}

void KafkaIngest::create_missing_topics() {
  for (const std::string& topic : {options_.v3_topic, options_.v4_topic}) {
    try {
      kafka::ensure_topic(*consumer_, topic, options_.topic_partitions, std::chrono::seconds(5),
                          options_.topic_replication);
    } catch (const std::exception& e) {
      // The topic may still come (created by an operator, or on first produce): the
      // consumer looks for it every metadata_refresh.
      spdlog::warn("{}; records on it are read once it exists", e.what());
    }
  }
  topics_checked_ = true;
}

void KafkaIngest::measure_lag() {
  std::vector<RdKafka::TopicPartition*> assigned;
  if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return;
  // The position is known only once a message was consumed since the last assignment; else
  // what this node consumed before, else the group's committed offset (asked once).
  consumer_->position(assigned);
  std::vector<RdKafka::TopicPartition*> unknown;
  for (auto* partition : assigned) {
    const auto where = std::make_pair(partition->topic(), partition->partition());
    if (partition->offset() >= 0) {
      consumed_next_[where] = partition->offset();
    } else if (!consumed_next_.contains(where)) {
      unknown.push_back(RdKafka::TopicPartition::create(where.first, where.second));
    }
  }
  if (!unknown.empty() && consumer_->committed(unknown, 500) == RdKafka::ERR_NO_ERROR) {
    for (const auto* partition : unknown)
      if (partition->offset() >= 0) consumed_next_[{partition->topic(), partition->partition()}] = partition->offset();
  }
  RdKafka::TopicPartition::destroy(unknown);
  std::map<std::string, std::int64_t> lag;
  for (const auto* partition : assigned) {
    std::int64_t low = -1, high = -1;
    if (consumer_->get_watermark_offsets(partition->topic(), partition->partition(), &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0)
      continue;
    const auto next = consumed_next_.find({partition->topic(), partition->partition()});
    // Nothing consumed or committed yet: all the partition holds is behind.
    const std::int64_t position = next != consumed_next_.end() ? std::max(next->second, low) : std::max<std::int64_t>(low, 0);
    lag[fmt::format("topic=\"{}\",partition=\"{}\"", partition->topic(), partition->partition())] =
        std::max<std::int64_t>(0, high - position);
  }
  RdKafka::TopicPartition::destroy(assigned);
  metrics_.consumer_lag.replace(std::move(lag));
}

void KafkaIngest::run() {
  if (kafka::cluster_answers(*consumer_, std::chrono::milliseconds(2000))) create_missing_topics();
  try {
    subscribe();
  } catch (const std::exception& e) {
    replace_consumer(e.what());
  }
  auto next_probe = std::chrono::steady_clock::now();
  while (running_) {
    if (std::string why; consumer_->fatal_error(why) != RdKafka::ERR_NO_ERROR) {
      replace_consumer(why);
      next_probe = std::chrono::steady_clock::now();
      continue;
    }
    if (std::chrono::steady_clock::now() >= next_probe) {
      const bool up = kafka::cluster_answers(*consumer_, std::chrono::milliseconds(1000));
      if (up != cluster_up_) spdlog::info("kafka: cluster {}", up ? "reachable" : "unreachable");
      cluster_up_ = up;
      if (up && !topics_checked_) create_missing_topics();
      measure_lag();
      // While the cluster is away, readiness should follow it back within a second.
      next_probe = std::chrono::steady_clock::now() +
                   (up ? std::chrono::milliseconds(2000) : std::chrono::milliseconds(500));
    }
    std::vector<std::unique_ptr<RdKafka::Message>> batch;
    for (int timeout = 100; batch.size() < kMaxBatch; timeout = 0) {
      std::unique_ptr<RdKafka::Message> message(consumer_->consume(timeout));
      if (message->err() == RdKafka::ERR__TIMED_OUT) break;
      if (message->err() != RdKafka::ERR_NO_ERROR) {
        // A fatal error is handled at the top of the loop; anything else librdkafka retries.
        if (message->err() != RdKafka::ERR__FATAL)
          log_.warn("consume", "kafka: " + message->errstr());
        break;
      }
      batch.push_back(std::move(message));
    }
    if (batch.empty()) continue;

    // Offsets are committed only after the events are durable, so a crash replays rather
    // than loses. A batch that could not be stored is re-read from the last commit.
    if (!handle(batch)) {
      std::map<std::pair<std::string, std::int32_t>, std::int64_t> first;
      for (const auto& message : batch)
        first.emplace(std::make_pair(message->topic_name(), message->partition()), message->offset());
      for (const auto& [where, offset] : first) {
        auto* partition = RdKafka::TopicPartition::create(where.first, where.second, offset);
        consumer_->seek(*partition, 1000);
        delete partition;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> next;
    for (const auto& message : batch)
      next[{message->topic_name(), message->partition()}] = message->offset() + 1;
    for (const auto& [where, offset] : next) consumed_next_[where] = offset;
    auto offsets = owned_offsets(*consumer_, next);
    if (offsets.empty()) continue;
    // Asynchronous: a synchronous commit waits forever while the broker is away, which would
    // stall this thread (and its readiness probe). A commit lost to an outage or a crash only
    // means those records are read again, and history recognises them by their keys.
    const auto code = consumer_->commitAsync(offsets);
    RdKafka::TopicPartition::destroy(offsets);
    if (code != RdKafka::ERR_NO_ERROR)
      log_.warn("commit", "kafka: offset commit failed (" + RdKafka::err2str(code) +
                              "); those records may be delivered again");
  }
}

}  // namespace ssehub::ingest
