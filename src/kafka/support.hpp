#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ssehub::kafka {

// A librdkafka configuration from key/value pairs; throws std::runtime_error on a bad one.
std::unique_ptr<RdKafka::Conf> make_conf(const std::map<std::string, std::string>& settings);

// `settings` with librdkafka's reconnection wait bounded to 1 s. By default it doubles up to
// reconnect.backoff.max.ms, 10 s: after an outage of more than a few seconds each connection
// retries on its own clock, up to 10 s after the broker is back, and a node stays not ready
// (or, for the bus, takes publishes while its consumer delivers nothing) that long.
std::map<std::string, std::string> with_fast_reconnect(
    std::map<std::string, std::string> settings);

// Creates `topic` with `partitions` partitions (and `replication` copies; -1: the broker's
// default) unless it exists; returns its partition count. Throws when the cluster cannot be
// reached within `timeout` or refuses to create it.
int ensure_topic(RdKafka::Handle& handle, const std::string& topic, int partitions,
                 std::chrono::milliseconds timeout, int replication = -1);

// Logs a message at most once per `period` for each `kind`, counting what it suppressed.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::seconds period) : period_(period) {}
  void warn(const std::string& kind, const std::string& message);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last{};
    std::size_t suppressed = 0;
  };
  std::chrono::seconds period_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

// Routes librdkafka's own logs and errors to ours, at most once per kind per 30 s, instead
// of raw lines on stderr (several per second while a broker is down).
class LogEvents final : public RdKafka::EventCb {
 public:
  explicit LogEvents(std::string component) : component_(std::move(component)) {}
  void event_cb(RdKafka::Event& event) override;

 private:
  std::string component_;
  RateLimitedLog log_{std::chrono::seconds(30)};
};

// Closes a consumer, giving up after `limit`: while the cluster is unreachable librdkafka's
// close can wait for its socket timeouts, and shutdown must not. A consumer that does not
// close in time is left to the exiting process.
void close_within(std::unique_ptr<RdKafka::KafkaConsumer> consumer, std::chrono::milliseconds limit);

// Whether the cluster answers a metadata request within `timeout` (blocking). librdkafka
// reconnects by itself; this only tells readiness whether the cluster is there.
bool cluster_answers(RdKafka::Handle& handle, std::chrono::milliseconds timeout);

// The end offset (the next offset to be written) of each partition 0..partitions-1 of
// `topic`, asked of the leaders; -1 where a partition did not answer within `timeout`.
// Blocks at most `timeout`: librdkafka's query_watermark_offsets ignores its timeout while
// a partition's leader is down (librdkafka #2588, fixed in 2.3; Debian 12 has 2.0.2), so
// this asks through offsetsForTimes with Kafka's "latest" timestamp, which honours it.
std::vector<std::int64_t> end_offsets(RdKafka::Handle& handle, const std::string& topic,
                                      int partitions, std::chrono::milliseconds timeout);

// A stable node identity for Kafka from the host name and the data directory.
std::string instance_id(const std::string& data_dir);

}  // namespace ssehub::kafka
