// Wires ssehub's components together, runs them, and shuts them down in order.

#include "api/ops_api.hpp"
#include "api/stream_api.hpp"
#include "auth/access_policy.hpp"
#include "bus/event_bus.hpp"
#include "bus/kafka_bus.hpp"
#include "bus/kafka_ingest.hpp"
#include "config/config.hpp"
#include "config/version.hpp"
#include "history/history.hpp"
#include "history/memory/memory_event_log.hpp"
#include "history/sqlite/sqlite_event_log.hpp"
#include "http/client_limits.hpp"
#include "http/cors.hpp"
#include "http/io_pool.hpp"
#include "http/listener.hpp"
#include "http/router.hpp"
#include "http/static_files.hpp"
#include "http/tls.hpp"
#include "hub/hub.hpp"
#include "metrics/metrics.hpp"
#include "reports/report_api.hpp"
#include "reports/report_service.hpp"
#include "sse/fanout.hpp"
#include "store/blocking_pool.hpp"
#include "store/open_store.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace ssehub;

namespace {

// Store calls block (disk, network): enough threads to overlap DynamoDB round trips.
constexpr unsigned kStoreThreads = 8;
constexpr std::size_t kStoreQueuePerThread = 4096;

std::chrono::milliseconds tick_period(const config::Config& config) {
  const auto shortest = std::min({config.keepalive, config.v1_keepalive, config.v1_hi_interval});
  return std::clamp(shortest / 30, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

std::string read_file(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

auth::AccessPolicy make_access_policy(const config::Config& config) {
  try {
    return auth::AccessPolicy({.require_jwt = config.auth == "jwt",
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

// The log behind history, chosen by `--history-store`.
std::unique_ptr<history::EventLog> open_event_log(const config::Config& config,
                                                  const std::string& path,
                                                  metrics::Registry& metrics) {
  const history::Retention retention{.max_events_per_stream = config.history_max_events,
                                     .max_age = config.history_max_age};
  if (config.history_store == "memory")
    return std::make_unique<history::MemoryEventLog>(
        history::MemoryEventLogOptions{.budget_bytes = config.history_memory_mb << 20,
                                       .retention = retention},
        metrics);
  return std::make_unique<history::SqliteEventLog>(
      history::SqliteEventLogOptions{
          .path = path, .sync_full = config.history_sync_full, .retention = retention},
      metrics);
}

std::string describe_history(const config::Config& config) {
  if (config.history_store == "memory")
    return "memory (up to " + std::to_string(config.history_memory_mb) + " MiB, lost on restart)";
  return std::string("sqlite (") + (config.history_sync_full ? "fsync each commit" : "survives crashes, not power loss") + ")";
}

std::string describe_access(const config::Config& config) {
  std::string access = config.auth == "jwt" ? "jwt" : "none (streams open to anyone who can connect)";
  if (!config.publish_token.empty()) return access + ", publish token";
  return access + (config.auth == "jwt" ? ", publishing with an ssehub:publish JWT" : ", publishing open");
}

void write_port_file(const std::string& path, std::uint16_t port) {
  // Written to a temporary name and renamed, so a reader never sees a half-written port.
  const std::string temporary = path + ".tmp";
  std::ofstream(temporary) << port << "\n";
  std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
  auto outcome = config::load_config(argc, argv);
  if (!outcome.config) return outcome.exit_code;
  const config::Config config = std::move(*outcome.config);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // Signals are taken by the main thread alone (sigwait below); every thread started from
  // here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    std::filesystem::create_directories(config.data_dir);
    metrics::Registry metrics;
    http::HttpMetrics http_metrics(metrics);
    sse::StreamMetrics stream_metrics(metrics, http_metrics.connections_open);
    http::IoPool pool(config.io_threads());
    std::vector<boost::asio::io_context*> contexts;
    for (unsigned i = 0; i < pool.size(); ++i) contexts.push_back(&pool.context(i));
    hub::Hub hub(contexts, {config.max_streams_per_user, config.max_streams}, metrics);

    // Ids differ in kind between the modes (a local sequence, or Kafka offsets), so each
    // keeps its own history file.
    const bool clustered = config.bus == "kafka";
    const std::string history_path =
        (std::filesystem::path(config.data_dir) / (clustered ? "bus-history.db" : "history.db")).string();
    // A cluster bus numbers events itself: history asks it about ids it has not applied yet.
    std::unique_ptr<bus::KafkaBus> cluster;
    if (clustered)
      cluster = std::make_unique<bus::KafkaBus>(
          bus::KafkaBusOptions{.brokers = config.kafka_brokers,
                               .topic = config.bus_topic,
                               .partitions = config.bus_partitions});
    auto event_log = open_event_log(config, history_path, metrics);
    const std::vector<core::LogPosition> applied = event_log->positions();
    sse::Fanout fanout(hub);
    history::History history(
        std::move(event_log),
        {.queue_limit = config.history_queue_limit, .trim_interval = config.history_trim_interval},
        metrics, cluster.get());
    history.start(fanout);
    std::unique_ptr<bus::EventBus> bus;
    bus::KafkaBus* kafka_bus = nullptr;
    if (cluster) {
      cluster->start(history, applied);
      if (config.store == "sqlite")
        spdlog::warn("--bus kafka with --store sqlite: each node keeps its own reports; use "
                     "--store dynamodb so every node sees every report");
      kafka_bus = cluster.get();
      bus = std::move(cluster);
    } else {
      bus = std::make_unique<bus::LocalBus>(history);
    }

    const auth::AccessPolicy access = make_access_policy(config);
    if (config.insecure_open && access.streams_open())
      spdlog::warn("listening on {} with no authentication (--insecure-open)", config.host);

    http::Router router;
    api::StreamApi streams(config, hub, history, *bus, access, stream_metrics);
    streams.register_routes(router);
    auto report_store = store::open_store(config);
    store::BlockingPool store_pool(kStoreThreads, kStoreQueuePerThread);
    reports::ReportService report_service(*report_store, store_pool, *bus, metrics);
    report_service.start(std::chrono::seconds(30));
    reports::ReportApi report_api(report_service, streams, access);
    report_api.register_routes(router);

    std::unique_ptr<bus::KafkaIngest> ingest;
    if (!config.kafka_brokers.empty()) {
      ingest = std::make_unique<bus::KafkaIngest>(
          bus::KafkaIngestOptions{.brokers = config.kafka_brokers,
                                  .group = config.kafka_group,
                                  .v3_topic = config.kafka_v3_topic,
                                  .v4_topic = config.kafka_v4_topic,
                                  .max_record_bytes = config.max_body_bytes,
                                  .max_username_bytes = config.max_username_bytes,
                                  .max_event_bytes = config.max_event_bytes,
                                  .instance_id = config.kafka_instance_id.empty()
                                                     ? bus::kafka_instance_id(config.data_dir)
                                                     : config.kafka_instance_id,
                                  .topic_partitions = config.kafka_topic_partitions,
                                  .topic_replication = config.kafka_topic_replication},
          *bus, report_service, metrics);
      ingest->start();
    }

    std::vector<api::OpsApi::ReadinessCheck> checks = {
        {"history", [&history] { return history.ready(); }},
        {"store", [&report_service] { return report_service.store_ready(); }}};
    if (kafka_bus) checks.emplace_back("bus", [kafka_bus] { return kafka_bus->ready(); });
    if (ingest) checks.emplace_back("kafka", [&ingest] { return ingest->ready(); });
    api::OpsApi ops(metrics, std::move(checks));
    ops.register_routes(router);
    http::StaticFiles web;
    const bool serves_ui = web.load(config.web_root) > 0;
    router.set_fallback([&web](const http::ExchangePtr& exchange) { web.serve(exchange); });

    const http::CorsPolicy cors(config.cors_origins);
    const http::HostPolicy hosts(config.auth != "none", config.allowed_hosts);
    http::BodyBudget bodies(config.max_buffered_body_bytes, http_metrics.request_body_bytes_buffered);
    auto clients = std::make_shared<http::ClientLimits>(
        http::ClientLimitSettings{.max_connections_per_address = config.max_connections_per_ip,
                                  .requests_per_second = config.rate_limit_rps,
                                  .burst = config.rate_limit_burst});
    http::HttpContext http_context{router, cors, hosts,
                                   {.max_body_bytes = config.max_body_bytes,
                                    .max_header_bytes = config.max_header_bytes,
                                    .request_timeout = config.request_timeout},
                                   http_metrics, *clients, bodies};
    std::unique_ptr<boost::asio::ssl::context> tls;
    if (!config.tls_cert.empty()) tls = http::make_tls_context(config.tls_cert, config.tls_key);
    http_context.tls = tls.get();
    http::Listener listener(pool, http_context);
    const std::uint16_t port = listener.bind(config.host, config.port);
    if (!config.port_file.empty()) write_port_file(config.port_file, port);
    hub.start_ticking(tick_period(config));
    listener.start();
    pool.start();
    // An IPv6 address goes in brackets, as in a URL.
    const std::string url_host =
        config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
    spdlog::info("ssehub {} ({}) listening on {}://{}:{} ({} I/O threads, data in {})", config::kVersion,
                 config::kCommit, tls ? "https" : "http", url_host, port, pool.size(), config.data_dir);
    spdlog::info("history: {}; reports: {}; bus: {}; kafka ingestion: {}; auth: {}", describe_history(config),
                 config.store, config.bus == "kafka" ? "kafka (" + config.bus_topic + ")" : "local",
                 config.kafka_brokers.empty() ? "off" : "on (" + config.kafka_brokers + ")",
                 describe_access(config));
    if (serves_ui)
      spdlog::info("report page: open http://{}:{}/",
                   config.listens_on_loopback_only() ? "localhost" : url_host, port);

    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");

    listener.stop();
    hub.shutdown_all();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (hub.streams_open() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (ingest) ingest->stop();  // no new work from Kafka; uncommitted records are re-read later
    store_pool.stop();      // finishes queued report operations; their events go to history
    if (kafka_bus) kafka_bus->stop();  // delivers what is being produced, stops applying
    history.stop();         // finishes queued writes; their answers are posted to the I/O threads
    report_service.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pool.stop();
    pool.join();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("ssehub cannot start: {}", e.what());
    return 1;
  }
}
