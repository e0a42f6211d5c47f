#include "app/server.hpp"

#include "api/ops_api.hpp"
#include "api/stream_api.hpp"
#include "auth/access_policy.hpp"
#include "bus/event_bus.hpp"
#include "bus/kafka_bus.hpp"
#include "config/version.hpp"
#include "core/in_progress.hpp"
#include "history/history.hpp"
#include "history/memory/memory_event_log.hpp"
#include "history/segment/segment_event_log.hpp"
#include "history/sqlite/sqlite_event_log.hpp"
#include "http/body_budget.hpp"
#include "http/client_limits.hpp"
#include "http/cors.hpp"
#include "http/host_policy.hpp"
#include "http/http_metrics.hpp"
#include "http/io_pool.hpp"
#include "http/listener.hpp"
#include "http/router.hpp"
#include "http/static_files.hpp"
#include "http/tls.hpp"
#include "hub/hub.hpp"
#include "ingest/kafka_ingest.hpp"
#include "kafka/support.hpp"
#include "metrics/metrics.hpp"
#include "reports/report_api.hpp"
#include "reports/report_service.hpp"
#include "sse/fanout.hpp"
#include "sse/stream_opener.hpp"
#include "sse/stream_session.hpp"
#include "core/blocking_pool.hpp"
#include "store/open_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace ssehub::app {

namespace {

using config::Config;

// Store calls block (disk, network): enough threads to overlap DynamoDB round trips.
constexpr unsigned kStoreThreads = 8;
constexpr std::size_t kStoreQueuePerThread = 4096;
// How long a stopping server waits for streams to close, and then for the answers owed to
// be written: a client that does not read is not waited for longer (its connection is
// destroyed with the I/O threads), so SIGTERM ends the process within seconds.
constexpr std::chrono::milliseconds kStreamsClosing{1000};
constexpr std::chrono::milliseconds kAnswersWriting{1000};

std::chrono::milliseconds tick_period(const Config& config) {
  const auto shortest = std::min({config.keepalive, config.v1_keepalive, config.v1_hi_interval});
  return std::clamp(shortest / 30, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

std::string read_file(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

auth::AccessPolicy make_access_policy(const Config& config) {
  try {
    return auth::AccessPolicy({.require_jwt = config.auth == config::AuthMode::Jwt,
                               .jwt = {.hs256_secret = config.jwt_secret,
                                       .rs256_public_key = read_file(config.jwt_public_key_file)},
                               .publish_token = config.publish_token});
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string(config.jwt_public_key_file.empty()
                                             ? "--jwt-secret"
                                             : "--jwt-public-key-file " + config.jwt_public_key_file) +
                             ": " + e.what());
  }
}

// Ids differ in kind between the modes (a local sequence, or Kafka offsets), so each keeps
// its own history file (a directory of segments for the segment log).
std::string history_path(const Config& config, const char* suffix) {
  const bool clustered = config.bus == config::BusMode::Kafka;
  return (std::filesystem::path(config.data_dir) /
          ((clustered ? "bus-history" : "history") + std::string(suffix)))
      .string();
}

// The log behind history, chosen by `--history-store`.
std::unique_ptr<history::EventLog> open_event_log(const Config& config, metrics::Registry& metrics) {
  const history::Retention retention{.max_events_per_stream = config.history_max_events,
                                     .max_age = config.history_max_age};
  if (config.history_store == config::HistoryStore::Memory)
    return std::make_unique<history::MemoryEventLog>(
        history::MemoryEventLogOptions{.budget_bytes = config.history_memory_mb << 20,
                                       .retention = retention},
        metrics);
  if (config.history_store == config::HistoryStore::Segment)
    return std::make_unique<history::SegmentEventLog>(
        history::SegmentEventLogOptions{.dir = history_path(config, ".segments"),
                                        .budget_bytes = config.history_memory_mb << 20,
                                        .retention = retention,
                                        .sync_before_answer =
                                            config.history_sync == config::HistorySync::Full},
        metrics);
  return std::make_unique<history::SqliteEventLog>(
      history::SqliteEventLogOptions{.path = history_path(config, ".db"),
                                     .sync_full = config.history_sync == config::HistorySync::Full,
                                     .retention = retention},
      metrics);
}

std::unique_ptr<bus::KafkaBus> make_cluster_bus(const Config& config, metrics::Registry& metrics) {
  if (config.bus != config::BusMode::Kafka) return nullptr;
  return std::make_unique<bus::KafkaBus>(
      bus::KafkaBusOptions{.brokers = config.kafka_brokers,
                           .topic = config.bus_topic,
                           .partitions = config.bus_partitions,
                           .confirm_timeout = config.bus_confirm_timeout},
      metrics);
}

std::unique_ptr<ingest::KafkaIngest> make_ingest(const Config& config, bus::EventBus& bus,
                                              reports::ReportService& reports,
                                              metrics::Registry& metrics) {
  if (config.kafka_brokers.empty()) return nullptr;
  return std::make_unique<ingest::KafkaIngest>(
      ingest::KafkaIngestOptions{.brokers = config.kafka_brokers,
                              .group = config.kafka_group,
                              .v3_topic = config.kafka_v3_topic,
                              .v4_topic = config.kafka_v4_topic,
                              .max_record_bytes = config.max_body_bytes,
                              .max_username_bytes = config.max_username_bytes,
                              .max_event_bytes = config.max_event_bytes,
                              .instance_id = config.kafka_instance_id.empty()
                                                 ? kafka::instance_id(config.data_dir)
                                                 : config.kafka_instance_id,
                              .topic_partitions = config.kafka_topic_partitions,
                              .topic_replication = config.kafka_topic_replication},
      bus, reports, metrics);
}

std::vector<boost::asio::io_context*> contexts_of(http::IoPool& pool) {
  std::vector<boost::asio::io_context*> contexts;
  for (unsigned i = 0; i < pool.size(); ++i) contexts.push_back(&pool.context(i));
  return contexts;
}

void write_port_file(const std::string& path, std::uint16_t port) {
  // Written to a temporary name and renamed, so a reader never sees a half-written port.
  const std::string temporary = path + ".tmp";
  std::ofstream(temporary) << port << "\n";
  std::filesystem::rename(temporary, path);
}

}  // namespace

// Every component, in the order each needs the ones before it: members are built in this
// order and destroyed in reverse. Building starts no thread (but the report service's own);
// Server::start does, in the same order.
struct Server::Components {
  explicit Components(const Config& settings);
  std::vector<api::OpsApi::ReadinessCheck> readiness_checks();

  const Config config;
  metrics::Registry metrics;
  http::HttpMetrics http_metrics{metrics};
  sse::StreamMetrics stream_metrics{metrics, http_metrics.connections_open};
  http::IoPool pool{config.io_threads(), config.io_thread_cpus()};
  hub::Hub hub{contexts_of(pool), {config.max_streams_per_user, config.max_streams}, metrics};
  // One of the two: the bus between nodes (--bus kafka), or this process alone. A cluster bus
  // numbers events itself: history asks it about ids it has not applied yet.
  std::unique_ptr<bus::KafkaBus> cluster_bus = make_cluster_bus(config, metrics);
  sse::Fanout fanout{hub};
  history::History history{open_event_log(config, metrics),
                           {.queue_limit = config.history_queue_limit,
                            .trim_interval = config.history_trim_interval},
                           metrics,
                           cluster_bus.get()};
  std::unique_ptr<bus::LocalBus> local_bus =
      cluster_bus ? nullptr : std::make_unique<bus::LocalBus>(history);
  bus::EventBus& bus = cluster_bus ? static_cast<bus::EventBus&>(*cluster_bus) : *local_bus;
  const auth::AccessPolicy access = make_access_policy(config);
  http::Router router;
  const sse::StreamOpener streams{config, hub, history, stream_metrics};
  api::StreamApi stream_api{config, streams, bus, history, access};
  std::unique_ptr<store::Store> report_store = store::open_store(config);
  core::BlockingPool store_pool{"store", kStoreThreads, kStoreQueuePerThread};
  reports::ReportService report_service{*report_store, store_pool, bus, metrics};
  reports::ReportApi report_api{report_service, streams, access};
  std::unique_ptr<ingest::KafkaIngest> ingest = make_ingest(config, bus, report_service, metrics);
  api::OpsApi ops{metrics, readiness_checks()};
  http::StaticFiles web;
  bool serves_ui = false;
  const http::CorsPolicy cors{config.cors_origins};
  const http::HostPolicy hosts{config.auth != config::AuthMode::None, config.allowed_hosts};
  http::BodyBudget bodies{config.max_buffered_body_bytes, http_metrics.request_body_bytes_buffered};
  std::shared_ptr<http::ClientLimits> clients = std::make_shared<http::ClientLimits>(
      http::ClientLimitSettings{.max_connections_per_address = config.max_connections_per_ip,
                                .requests_per_second = config.rate_limit_rps,
                                .burst = config.rate_limit_burst});
  core::InProgress requests_in_progress;
  std::unique_ptr<http::TlsContextSlot> tls =
      config.tls_cert.empty()
          ? nullptr
          : std::make_unique<http::TlsContextSlot>(
                http::make_tls_context(config.tls_cert, config.tls_key, config.http2,
                                       config.tls_park_idle));
  http::HttpContext http_context{router, cors, hosts,
                                 {.max_body_bytes = config.max_body_bytes,
                                  .max_header_bytes = config.max_header_bytes,
                                  .request_timeout = config.request_timeout,
                                  .http2 = config.http2,
                                  .http2_max_concurrent_streams = config.http2_max_streams},
                                 http_metrics, *clients, bodies, requests_in_progress, tls.get()};
  http::Listener listener{pool, http_context};
};

Server::Components::Components(const Config& settings) : config(settings) {
  if (cluster_bus && config.store == config::ReportStore::Sqlite)
    spdlog::warn("--bus kafka with --store sqlite: each node keeps its own reports; use "
                 "--store dynamodb so every node sees every report");
  if (config.insecure_open && access.streams_open())
    spdlog::warn("listening on {} with no authentication (--insecure-open)", config.host);
  stream_api.register_routes(router);
  report_api.register_routes(router);
  ops.register_routes(router);
  serves_ui = web.load(config.web_root) > 0;
  router.set_fallback([this](const http::ExchangePtr& exchange) { web.serve(exchange); });
}

std::vector<api::OpsApi::ReadinessCheck> Server::Components::readiness_checks() {
  std::vector<api::OpsApi::ReadinessCheck> checks = {
      {"history", [this] { return history.ready(); }},
      {"store", [this] { return report_service.store_ready(); }}};
  if (cluster_bus) checks.emplace_back("bus", [this] { return cluster_bus->ready(); });
  if (ingest) checks.emplace_back("kafka", [this] { return ingest->ready(); });
  return checks;
}

Server::Server(const Config& config) {
  std::filesystem::create_directories(config.data_dir);
  components_ = std::make_unique<Components>(config);
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

Server::~Server() { stop(); }

void Server::start() {
  Components& c = *components_;
  const Config& config = c.config;
  const std::vector<core::LogPosition> applied = c.history.applied_positions();
  c.history.start(c.fanout);
  if (c.cluster_bus) c.cluster_bus->start(c.history, applied);
  c.report_service.start(std::chrono::seconds(30));
  if (c.ingest) c.ingest->start();

  const std::uint16_t port = c.listener.bind(config.host, config.port);
  c.hub.start_ticking(tick_period(config));
  c.listener.start();
  c.pool.start();

  // An IPv6 address goes in brackets, as in a URL.
  const std::string url_host =
      config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
  std::string placement;  // " on CPUs 0,1" when each I/O thread has one
  for (const unsigned cpu : c.pool.cpus())
    placement += (placement.empty() ? " on CPUs " : ",") + std::to_string(cpu);
  spdlog::info("ssehub {} ({}) listening on {}://{}:{} ({} I/O threads{}, data in {})",
               config::kVersion, config::kCommit, c.tls ? "https" : "http", url_host, port,
               c.pool.size(), placement, config.data_dir);
  spdlog::info("{}", config::describe_modes(config));
  if (c.serves_ui)
    spdlog::info("report page: open http://{}:{}/",
                 config.listens_on_loopback_only() ? "localhost" : url_host, port);
  // Last, so whoever waits for the file finds a server that is serving and has logged its modes.
  if (!config.port_file.empty()) write_port_file(config.port_file, port);
}

void Server::reload_certificate() {
  Components& c = *components_;
  if (!c.tls) {
    spdlog::info("tls: SIGHUP ignored: no --tls-cert to reload");
    return;
  }
  try {
    c.tls->replace(http::make_tls_context(c.config.tls_cert, c.config.tls_key, c.config.http2,
                                          c.config.tls_park_idle));
    spdlog::info("tls: reloaded {} and {}; new connections use them, open ones keep theirs",
                 c.config.tls_cert, c.config.tls_key);
  } catch (const std::exception& e) {
    spdlog::error("tls: reload failed, keeping the certificate in use: {}", e.what());
  }
}

void Server::stop() {
  if (stopped_ || !components_) return;
  stopped_ = true;
  Components& c = *components_;
  // The clients first: no new connection, and every stream ends (without its last chunk, so
  // that its client resumes) as soon as the write in flight, if any, is done.
  c.listener.stop();
  c.hub.shutdown_all();
  c.hub.wait_until_closed(kStreamsClosing);
  // Then what produces work, each finishing what it accepted.
  if (c.ingest) c.ingest->stop();  // no new work from Kafka; uncommitted records are re-read later
  c.store_pool.stop();             // finishes queued report operations; their events go to history
  if (c.cluster_bus) c.cluster_bus->stop();  // delivers what is being produced, stops applying
  c.history.stop();         // finishes queued writes; their answers are posted where they were asked
  c.report_service.stop();  // runs what history answered it; its answers go to the I/O threads
  // The answers owed to clients are written.
  c.requests_in_progress.wait_until_empty(kAnswersWriting);
  // Last the I/O threads: the connections still open (idle, half-read, not reading) are
  // destroyed now, while everything they reference is alive.
  c.pool.stop();
}

}  // namespace ssehub::app
