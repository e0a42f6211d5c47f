#include "bus/kafka_ingest.hpp"

#include "bus/record_parser.hpp"
#include "metrics/thread_name.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace ssehub::bus {

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

KafkaIngest::KafkaIngest(KafkaIngestOptions options, EventBus& bus,
                         reports::ReportService& reports, Metrics& metrics)
    : options_(std::move(options)), bus_(bus), reports_(reports), metrics_(metrics) {}

KafkaIngest::~KafkaIngest() { stop(); }

std::unique_ptr<RdKafka::KafkaConsumer> KafkaIngest::create_consumer() {
  // Static membership: a node that restarts (even after kill -9) takes its partitions back
  // at once instead of stalling the group until the session times out.
  auto conf = make_kafka_conf({{"bootstrap.servers", options_.brokers},
                               {"client.id", "ssehub-ingest"},
                               {"group.id", options_.group},
                               {"group.instance.id", options_.instance_id},
                               {"session.timeout.ms", "10000"},
                               {"heartbeat.interval.ms", "1000"},
                               {"enable.auto.commit", "false"},
                               {"auto.offset.reset", "earliest"},
                               {"fetch.wait.max.ms", "10"},
                               {"allow.auto.create.topics", "true"}});
  std::string error;
  conf->set("event_cb", &events_, error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) throw std::runtime_error("kafka: cannot create consumer: " + error);
  const auto code = consumer->subscribe({options_.v3_topic, options_.v4_topic});
  if (code != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("kafka: cannot subscribe: " + RdKafka::err2str(code));
  return consumer;
}

void KafkaIngest::start() {
  consumer_ = create_consumer();
  running_ = true;
  thread_ = named_thread("kafka-ingest", [this] { run(); });
  spdlog::info("kafka: consuming {} and {} as group {}", options_.v3_topic, options_.v4_topic,
               options_.group);
}

void KafkaIngest::stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
  close_within(std::move(consumer_), std::chrono::seconds(2));
}

void KafkaIngest::skip(SkipReason reason, const RdKafka::Message& message, const std::string& why) {
  metrics_.skip(reason);
  log_.warn(skip_reason_label(reason),
            fmt::format("kafka: skipped record {}/{}@{}: {}", message.topic_name(),
                        message.partition(), message.offset(), why));
}

bool KafkaIngest::handle(const std::vector<std::unique_ptr<RdKafka::Message>>& batch) {
  std::vector<EventDraft> drafts;
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
      EventDraft draft;
      draft.stream = stream_key("v3", record.username);
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
    auto& change = std::get<StatusRecord>(parsed);
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
    std::promise<AppendResult> promise;
    auto future = promise.get_future();
    const auto admission = bus_.publish(std::move(drafts), {}, [&promise](AppendResult result) {
      promise.set_value(std::move(result));
    });
    if (admission != History::Admission::Queued) {
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
             fmt::format("cannot change {} to {}", reports::to_string(outcome.report.status),
                         reports::to_string(outcome.requested)));
        break;
      case Kind::Unavailable:
      case Kind::Overloaded: durable = false; break;
    }
  }
  if (durable) metrics_.kafka_records_ingested.add(ingested);
  return durable;
}

void KafkaIngest::replace_consumer(const std::string& why) {
  consumer_usable_ = false;
  metrics_.kafka_consumer_restarts.add();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_replacement_ > std::chrono::minutes(5)) replace_backoff_ = std::chrono::seconds(1);
  last_replacement_ = now;
  spdlog::error("kafka: the ingest consumer stopped for good ({}); replacing it in {} s. A "
                "fenced member means another consumer of group {} uses group.instance.id {} "
                "(--kafka-instance-id must differ per node), or a commit raced a session "
                "timeout after an outage",
                why, replace_backoff_.count(), options_.group, options_.instance_id);
  close_within(std::move(consumer_), std::chrono::seconds(2));
  while (running_) {
    for (auto waited = std::chrono::milliseconds(0); running_ && waited < replace_backoff_;
         waited += std::chrono::milliseconds(100))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!running_) return;
    replace_backoff_ = std::min(replace_backoff_ * 2, std::chrono::seconds(30));
    try {
      consumer_ = create_consumer();
      consumer_usable_ = true;
      spdlog::info("kafka: ingest consumer replaced; it resumes from the committed offsets");
      return;
    } catch (const std::exception& e) {
      spdlog::warn("{}; trying again in {} s", e.what(), replace_backoff_.count());
    }
  }
}

void KafkaIngest::run() {
  auto next_probe = std::chrono::steady_clock::now();
  while (running_) {
    if (std::string why; consumer_->fatal_error(why) != RdKafka::ERR_NO_ERROR) {
      replace_consumer(why);
      next_probe = std::chrono::steady_clock::now();
      continue;
    }
    if (std::chrono::steady_clock::now() >= next_probe) {
      const bool up = cluster_answers(*consumer_, std::chrono::milliseconds(1000));
      if (up != cluster_up_) spdlog::info("kafka: cluster {}", up ? "reachable" : "unreachable");
      cluster_up_ = up;
      next_probe = std::chrono::steady_clock::now() + std::chrono::seconds(2);
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

}  // namespace ssehub::bus
