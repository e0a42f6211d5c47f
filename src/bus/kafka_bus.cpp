#include "bus/kafka_bus.hpp"
#include "bus/kafka_record_headers.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/thread.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <string_view>

namespace ssehub::bus {

using namespace kafka_record_headers;

namespace {

// How long a keyed record's id is kept for a delivery report that was served after the apply.
constexpr auto kKeyedAppliedKept = std::chrono::seconds(10);

// A draft published with an Idempotency-Key: answered with the id it is stored under.
bool keyed(const core::EventDraft& draft) { return draft.dedupe_key.starts_with(kIdempotencyKeyPrefix); }

}  // namespace

// One publish call: answered once, when Kafka acknowledged (or refused) its last record or,
// for an HTTP publish, when the confirmation timeout passed, whichever comes first.
struct KafkaBus::Publication {
  std::mutex mutex;
  std::size_t remaining = 0;
  std::vector<std::uint64_t> ids;
  std::size_t already_stored = 0;
  std::string error;
  boost::asio::any_io_executor executor;
  history::History::AppendDone done;
  // Answers an HTTP publish at the confirmation timeout; cancelled once it is answered.
  std::shared_ptr<boost::asio::steady_timer> timer;
  std::atomic<bool> answered{false};

  // Runs `done` with `result` on the publication's executor, unless it was answered before.
  static void finish(const std::shared_ptr<Publication>& publication, history::AppendResult result) {
    if (publication->answered.exchange(true)) return;
    if (!publication->executor) return publication->done(std::move(result));
    boost::asio::post(publication->executor, [publication, result = std::move(result)]() mutable {
      if (publication->timer) publication->timer->cancel();  // on the timer's own thread
      publication->done(std::move(result));
    });
  }

  // Record `index` got `id` (zero: it failed with `failure`); the last one answers.
  static void complete_one(const std::shared_ptr<Publication>& publication, std::size_t index,
                           std::uint64_t id, bool stored_before, const std::string& failure) {
    history::AppendResult result;
    {
      std::lock_guard lock(publication->mutex);
      if (id == 0) {
        publication->error = failure;
      } else {
        publication->ids[index] = id;
        if (stored_before) ++publication->already_stored;
      }
      if (--publication->remaining != 0) return;
      result.ok = publication->error.empty();
      result.error = publication->error;
      if (result.ok) {
        result.ids = publication->ids;
        result.already_stored = publication->already_stored;
      }
    }
    finish(publication, std::move(result));
  }
};

class KafkaBus::DeliveryReports final : public RdKafka::DeliveryReportCb {
 public:
  std::function<void(std::int32_t, std::int64_t)> on_delivered;
  std::function<void(std::shared_ptr<Publication>, std::size_t, std::int32_t, std::int64_t)>
      on_keyed_delivered;

  // One record of a publication; owned by librdkafka until its report arrives.
  struct Slot {
    std::shared_ptr<Publication> publication;
    std::size_t index;
    bool keyed = false;
  };

  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Slot> slot(static_cast<Slot*>(message.msg_opaque()));
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      // A timeout does not say the event was refused: it may still be stored and delivered.
      return Publication::complete_one(
          slot->publication, slot->index, 0, false,
          message.err() == RdKafka::ERR__MSG_TIMED_OUT
              ? "Kafka did not confirm the event in time; it may still be delivered"
              : "Kafka did not take the event: " + message.errstr());
    }
    if (on_delivered) on_delivered(message.partition(), message.offset() + 1);
    if (slot->keyed && on_keyed_delivered)
      return on_keyed_delivered(slot->publication, slot->index, message.partition(), message.offset());
    Publication::complete_one(slot->publication, slot->index,
                              static_cast<std::uint64_t>(message.offset()) + 1, false, {});
  }
};

// Logs like LogEvents, and tells the bus when the producer has no broker left (and so a
// publish would only wait for its timeout).
class KafkaBus::ProducerEvents final : public RdKafka::EventCb {
 public:
  explicit ProducerEvents(KafkaBus& bus) : bus_(bus) {}
  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_ERROR && event.err() == RdKafka::ERR__ALL_BROKERS_DOWN)
      bus_.note_brokers_down(true);
    log_.event_cb(event);
  }

 private:
  KafkaBus& bus_;
  kafka::LogEvents log_{"bus"};
};

KafkaBus::KafkaBus(KafkaBusOptions options, metrics::Registry& metrics)
    : options_(std::move(options)) {
  for (int partition = 0; partition < kMaxPartitions; ++partition) partition_applied_[partition] = -1;
  metrics.collect([lag = lag_ms_](std::string& out) {
    metrics::render_value(out, "ssehub_bus_lag_seconds", "gauge",
                          "How long the oldest record the cluster holds and this node has not "
                          "applied yet has waited (0: caught up).",
                          static_cast<double>(lag->load()) / 1000.0);
  });
}

KafkaBus::~KafkaBus() { stop(); }

void KafkaBus::start(history::History& history, std::vector<core::LogPosition> applied) {
  history_ = &history;
  for (const auto& position : applied) {
    next_offsets_[position.partition] = position.next_offset;
    note_applied(position.partition, position.next_offset);
  }
  delivery_reports_ = std::make_unique<DeliveryReports>();
  delivery_reports_->on_delivered = [this](std::int32_t partition, std::int64_t end) {
    note_brokers_down(false);
    note_end(partition, end);
  };
  delivery_reports_->on_keyed_delivered = [this](std::shared_ptr<Publication> publication,
                                                 std::size_t index, std::int32_t partition,
                                                 std::int64_t offset) {
    settle_keyed(std::move(publication), index, partition, offset);
  };
  node_id_ = core::random_uuid();
  producer_events_ = std::make_unique<ProducerEvents>(*this);
  // Both handles reconnect within a second of the broker's return: a consumer that came back
  // seconds after the producer left a node taking publishes it did not deliver.
  auto producer_conf = kafka::make_conf(kafka::with_fast_reconnect(
      {{"bootstrap.servers", options_.brokers},
       {"client.id", "ssehub-bus"},
       {"enable.idempotence", "true"},
       {"acks", "all"},
       {"linger.ms", "1"},
       {"partitioner", "murmur2_random"},
       {"message.timeout.ms", std::to_string(options_.confirm_timeout.count())}}));
  std::string error;
  if (producer_conf->set("dr_cb", delivery_reports_.get(), error) != RdKafka::Conf::CONF_OK ||
      producer_conf->set("event_cb", producer_events_.get(), error) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka: " + error);
  producer_.reset(RdKafka::Producer::create(producer_conf.get(), error));
  if (!producer_) throw std::runtime_error("kafka: cannot create producer: " + error);

  // The group id is never committed to: this consumer assigns every partition itself.
  auto consumer_conf = kafka::make_conf(kafka::with_fast_reconnect(
      {{"bootstrap.servers", options_.brokers},
       {"client.id", "ssehub-bus"},
       {"group.id", "ssehub-bus-" + core::random_uuid()},
       {"enable.auto.commit", "false"},
       {"enable.auto.offset.store", "false"},
       {"auto.offset.reset", "earliest"},
       {"fetch.wait.max.ms", "10"},
       {"fetch.error.backoff.ms", "100"},
       {"enable.partition.eof", "true"}}));
  consumer_conf->set("event_cb", &events_, error);
  consumer_.reset(RdKafka::KafkaConsumer::create(consumer_conf.get(), error));
  if (!consumer_) throw std::runtime_error("kafka: cannot create consumer: " + error);

  running_ = true;
  producer_thread_ = core::named_thread("kafka-bus-out", [this] { run_producer_events(); });
  consumer_thread_ = core::named_thread("kafka-bus-in", [this] { run_consumer(); });
  watch_thread_ = core::named_thread("kafka-bus-watch", [this] { run_watch(); });
}

void KafkaBus::stop() {
  if (!running_.exchange(false)) return;
  if (watch_thread_.joinable()) watch_thread_.join();
  if (consumer_thread_.joinable()) consumer_thread_.join();
  // What is being produced gets a moment to be acknowledged; shutdown stays bounded.
  if (producer_) producer_->flush(cluster_up_ ? 3000 : 500);
  if (producer_thread_.joinable()) producer_thread_.join();
  kafka::close_within(std::move(consumer_), std::chrono::seconds(2));
}

bool KafkaBus::ready() const {
  return cluster_up_ && caught_up_ && producer_usable_ && lag() <= options_.max_ready_lag;
}

std::chrono::milliseconds KafkaBus::lag() const { return std::chrono::milliseconds(lag_ms_->load()); }

core::Admission KafkaBus::publish(std::vector<core::EventDraft> drafts,
                                     boost::asio::any_io_executor executor,
                                     history::History::AppendDone done) {
  if (!running_) return core::Admission::Stopped;
  // Known down: say so now rather than after the confirmation timeout.
  if (brokers_down_ || (!cluster_up_ && partition_count_ > 0)) return core::Admission::Unavailable;
  auto publication = std::make_shared<Publication>();
  publication->remaining = drafts.size();
  publication->ids.resize(drafts.size());
  publication->executor = std::move(executor);
  publication->done = std::move(done);
  if (publication->executor) {
    // librdkafka checks message timeouts about once a second, so its own timeout may fire up
    // to a second late: the publisher is answered on time by this timer instead.
    publication->timer = std::make_shared<boost::asio::steady_timer>(publication->executor,
                                                                     options_.confirm_timeout);
    publication->timer->async_wait([publication, timeout = options_.confirm_timeout](auto ec) {
      if (ec) return;
      Publication::finish(publication,
                          {.ok = false,
                           .ids = {},
                           .error = "Kafka did not confirm the event within " +
                                    std::to_string(timeout.count()) +
                                    " ms; it may still be delivered"});
    });
  }
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    core::EventDraft& draft = drafts[i];
    std::unique_ptr<RdKafka::Headers> headers(RdKafka::Headers::create());
    if (!draft.type.empty()) headers->add(kTypeHeader, draft.type);
    if (!draft.dedupe_key.empty()) headers->add(kDedupeHeader, draft.dedupe_key);
    if (keyed(draft)) headers->add(kNodeHeader, node_id_);
    auto slot = std::make_unique<DeliveryReports::Slot>(
        DeliveryReports::Slot{publication, i, keyed(draft)});
    const auto code = producer_->produce(
        options_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        draft.data.data(), draft.data.size(), draft.stream.data(), draft.stream.size(),
        core::unix_millis_now(), headers.get(), slot.get());
    if (code == RdKafka::ERR_NO_ERROR) {
      headers.release();  // librdkafka owns them now
      slot.release();
      continue;
    }
    // Not queued: count it as delivered-with-error so the publication still completes once.
    Publication::complete_one(publication, i, 0, false,
                              "Kafka producer refused the event: " + RdKafka::err2str(code));
  }
  return core::Admission::Queued;
}

void KafkaBus::run_producer_events() {
  // Delivery reports are served here, never on an I/O thread.
  while (running_) {
    producer_->poll(50);
    std::string why;
    if (producer_usable_ && producer_->fatal_error(why) != RdKafka::ERR_NO_ERROR) {
      producer_usable_ = false;
      spdlog::error("bus: the Kafka producer stopped for good ({}); every publish on this node "
                    "now fails and /readyz says not ready: restart the node", why);
    }
  }
  producer_->poll(0);
}

void KafkaBus::note_brokers_down(bool down) {
  if (brokers_down_.exchange(down) == down) return;
  if (down)
    spdlog::warn("bus: every Kafka broker is unreachable; publishes are refused (503) until one answers");
  else
    spdlog::info("bus: a Kafka broker answers again; publishes are taken");
}

void KafkaBus::settle_keyed(std::shared_ptr<Publication> publication, std::size_t index,
                            std::int32_t partition, std::int64_t offset) {
  std::unique_lock lock(keyed_mutex_);
  const auto it = keyed_applied_.find({partition, offset});
  if (it == keyed_applied_.end()) {
    keyed_waits_[{partition, offset}] = {std::move(publication), index, std::chrono::steady_clock::now()};
    return;
  }
  const std::uint64_t id = it->second.id;
  keyed_applied_.erase(it);
  lock.unlock();
  Publication::complete_one(publication, index, id,
                            id != static_cast<std::uint64_t>(offset) + 1, {});
}

void KafkaBus::note_keyed_applied(std::int32_t partition, std::int64_t offset, std::uint64_t id) {
  std::unique_lock lock(keyed_mutex_);
  const auto it = keyed_waits_.find({partition, offset});
  if (it == keyed_waits_.end()) {
    keyed_applied_[{partition, offset}] = {id, std::chrono::steady_clock::now()};
    return;
  }
  KeyedWait wait = std::move(it->second);
  keyed_waits_.erase(it);
  lock.unlock();
  Publication::complete_one(wait.publication, wait.index, id,
                            id != static_cast<std::uint64_t>(offset) + 1, {});
}

void KafkaBus::expire_keyed() {
  // A keyed publish is answered by its confirmation timer at the latest; what is left here
  // after that is for a report that never came, or a record this node no longer applies.
  const auto now = std::chrono::steady_clock::now();
  const auto wait_limit = options_.confirm_timeout + kKeyedAppliedKept;
  std::lock_guard lock(keyed_mutex_);
  std::erase_if(keyed_applied_, [&](const auto& entry) { return now - entry.second.at > kKeyedAppliedKept; });
  std::erase_if(keyed_waits_, [&](const auto& entry) { return now - entry.second.since > wait_limit; });
}

}  // namespace ssehub::bus
