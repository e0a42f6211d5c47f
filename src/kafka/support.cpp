#include "kafka/support.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>
#include <stdexcept>

namespace ssehub::kafka {

std::unique_ptr<RdKafka::Conf> make_conf(const std::map<std::string, std::string>& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [key, value] : settings)
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka setting " + key + "=" + value + ": " + error);
  return conf;
}

std::map<std::string, std::string> with_fast_reconnect(
    std::map<std::string, std::string> settings) {
  settings.insert({{"reconnect.backoff.ms", "100"}, {"reconnect.backoff.max.ms", "1000"}});
  return settings;
}

int ensure_topic(RdKafka::Handle& handle, const std::string& topic, int partitions,
                 std::chrono::milliseconds timeout, int replication) {
  rd_kafka_t* rk = handle.c_ptr();
  char error[512];
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, error, sizeof error);
  if (!new_topic) throw std::runtime_error(std::string("kafka: bad topic spec: ") + error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()), error,
                                              sizeof error);
  rd_kafka_CreateTopics(rk, &new_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
  std::string failure;
  if (!event) {
    failure = "no answer from the cluster";
  } else if (rd_kafka_event_error(event)) {
    failure = rd_kafka_event_error_string(event);
  } else if (const auto* result = rd_kafka_event_CreateTopics_result(event)) {
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (std::size_t i = 0; i < count; ++i) {
      const auto code = rd_kafka_topic_result_error(results[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        failure = rd_kafka_topic_result_error_string(results[i]);
    }
  }
  if (event) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(new_topic);
  if (!failure.empty()) throw std::runtime_error("kafka: cannot create topic " + topic + ": " + failure);

  // Ask for the real partition count: an existing topic may differ from what we asked.
  std::unique_ptr<RdKafka::Topic> handle_topic(
      RdKafka::Topic::create(&handle, topic, nullptr, failure));
  RdKafka::Metadata* raw = nullptr;
  if (handle.metadata(false, handle_topic.get(), &raw, static_cast<int>(timeout.count())) !=
      RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("kafka: no metadata for topic " + topic);
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  for (const auto* info : *metadata->topics())
    if (info->topic() == topic && !info->partitions()->empty())
      return static_cast<int>(info->partitions()->size());
  throw std::runtime_error("kafka: topic " + topic + " has no partitions");
}

void LogEvents::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      log_.warn("error:" + RdKafka::err2str(event.err()),
                component_ + ": " + RdKafka::err2str(event.err()) + ": " + event.str());
      break;
    case RdKafka::Event::EVENT_LOG:
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
        log_.warn("log:" + event.fac(), component_ + ": " + event.fac() + ": " + event.str());
      break;
    default: break;
  }
}

void close_within(std::unique_ptr<RdKafka::KafkaConsumer> consumer, std::chrono::milliseconds limit) {
  if (!consumer) return;
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  RdKafka::KafkaConsumer* raw = consumer.release();
  std::thread([raw, closed] {
    raw->close();
    delete raw;
    closed->set_value();
  }).detach();
  if (done.wait_for(limit) != std::future_status::ready)
    spdlog::warn("kafka: the consumer did not close within {} ms; leaving it", limit.count());
}

bool cluster_answers(RdKafka::Handle& handle, std::chrono::milliseconds timeout) {
  RdKafka::Metadata* raw = nullptr;
  const bool up = handle.metadata(false, nullptr, &raw, static_cast<int>(timeout.count())) ==
                  RdKafka::ERR_NO_ERROR;
  delete raw;
  return up;
}

std::vector<std::int64_t> end_offsets(RdKafka::Handle& handle, const std::string& topic,
                                      int partitions, std::chrono::milliseconds timeout) {
  std::vector<std::int64_t> ends(static_cast<std::size_t>(std::max(partitions, 0)), -1);
  if (ends.empty()) return ends;
  std::vector<std::unique_ptr<RdKafka::TopicPartition>> owned;
  std::vector<RdKafka::TopicPartition*> asked;
  for (int partition = 0; partition < partitions; ++partition) {
    owned.emplace_back(
        RdKafka::TopicPartition::create(topic, partition, RdKafka::Topic::OFFSET_END));
    asked.push_back(owned.back().get());
  }
  if (handle.offsetsForTimes(asked, static_cast<int>(timeout.count())) != RdKafka::ERR_NO_ERROR)
    return ends;
  for (const auto* answer : asked)
    if (answer->err() == RdKafka::ERR_NO_ERROR && answer->offset() >= 0)
      ends[static_cast<std::size_t>(answer->partition())] = answer->offset();
  return ends;
}

std::string instance_id(const std::string& data_dir) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::error_code ec;
  const auto absolute = std::filesystem::weakly_canonical(data_dir, ec).string();
  return fmt::format("ssehub-{}-{:08x}", host,
                     static_cast<std::uint32_t>(std::hash<std::string>{}(absolute)));
}

void RateLimitedLog::warn(const std::string& kind, const std::string& message) {
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[kind];
  const auto now = std::chrono::steady_clock::now();
  if (entry.last != std::chrono::steady_clock::time_point{} && now - entry.last < period_) {
    ++entry.suppressed;
    return;
  }
  if (entry.suppressed > 0)
    spdlog::warn("{} (and {} more of this kind since the last report)", message, entry.suppressed);
  else
    spdlog::warn("{}", message);
  entry.last = now;
  entry.suppressed = 0;
}

}  // namespace ssehub::kafka
