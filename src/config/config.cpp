#include "config/config.hpp"

#include "config/version.hpp"
#include "core/cpu_affinity.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace ssehub::config {

bool Config::listens_on_loopback_only() const {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

unsigned Config::io_threads() const {
  if (threads > 0) return threads;
  const auto usable = static_cast<unsigned>(core::usable_cpus().size());
  return usable > 0 ? usable : std::max(1u, std::thread::hardware_concurrency());
}

std::vector<unsigned> Config::io_thread_cpus() const {
  if (cpu_affinity == CpuAffinity::Off) return {};
  return core::one_cpu_each(io_threads(), core::usable_cpus());
}

namespace {

std::string env_name_of(const std::string& option) {
  std::string name = "SSEHUB_";
  for (char c : option) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

std::string toml_value_text(const toml::node& node, const std::string& key) {
  if (auto s = node.value<std::string>()) return *s;
  if (auto b = node.value<bool>(); b && node.is_boolean()) return *b ? "true" : "false";
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point()) return std::to_string(*node.value<double>());
  if (auto arr = node.as_array()) {
    std::string joined;
    for (const auto& item : *arr) {
      if (!joined.empty()) joined += ',';
      joined += toml_value_text(item, key);
    }
    return joined;
  }
  throw ConfigError("setting '" + key + "' has a type ssehub cannot use");
}

// Tables flatten into dashed names, so `[history] max_events = 5` is --history-max-events.
void flatten_toml(const toml::table& table, const std::string& prefix,
                  std::map<std::string, std::string>& out) {
  for (const auto& [raw_key, node] : table) {
    std::string key = prefix + std::string(raw_key.str());
    std::replace(key.begin(), key.end(), '_', '-');
    if (auto sub = node.as_table()) {
      flatten_toml(*sub, key + "-", out);
    } else {
      out[key] = toml_value_text(node, key);
    }
  }
}

std::optional<std::string> find_config_path(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) return std::string(argv[i + 1]);
    if (arg.starts_with("--config=")) return std::string(arg.substr(9));
  }
  if (const char* env = std::getenv("SSEHUB_CONFIG"); env && *env) return std::string(env);
  return std::nullopt;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// The words of each mode, in the order --help lists them.
template <class Mode>
struct ModeWord {
  std::string_view word;
  Mode mode;
};
constexpr ModeWord<HistoryStore> kHistoryStores[] = {{"sqlite", HistoryStore::Sqlite},
                                                     {"memory", HistoryStore::Memory},
                                                     {"segment", HistoryStore::Segment}};
constexpr ModeWord<HistorySync> kHistorySyncs[] = {{"full", HistorySync::Full},
                                                   {"normal", HistorySync::Normal}};
constexpr ModeWord<ReportStore> kReportStores[] = {{"sqlite", ReportStore::Sqlite},
                                                   {"dynamodb", ReportStore::DynamoDb}};
constexpr ModeWord<BusMode> kBusModes[] = {{"local", BusMode::Local}, {"kafka", BusMode::Kafka}};
constexpr ModeWord<AuthMode> kAuthModes[] = {{"none", AuthMode::None}, {"jwt", AuthMode::Jwt}};
constexpr ModeWord<CpuAffinity> kCpuAffinities[] = {{"off", CpuAffinity::Off},
                                                    {"auto", CpuAffinity::Auto}};

template <class Mode, std::size_t N>
std::string_view word_of(const ModeWord<Mode> (&words)[N], Mode mode) {
  for (const auto& word : words)
    if (word.mode == mode) return word.word;
  throw std::logic_error("a mode without a word");
}

// A mode: CLI11 accepts only its words (and says which), and the word becomes the enum here,
// once.
template <class Mode, std::size_t N>
CLI::Option* add_mode(CLI::App& app, const std::string& name, Mode& target,
                      const ModeWord<Mode> (&words)[N], const std::string& help) {
  std::vector<std::string> accepted;
  for (const auto& word : words) accepted.emplace_back(word.word);
  auto parse = [&target, &words](const std::string& text) {
    for (const auto& word : words)
      if (word.word == text) target = word.mode;
  };
  return app.add_option_function<std::string>(name, parse, help)
      ->check(CLI::IsMember(accepted))
      ->default_str(std::string(word_of(words, target)));
}

// A duration given as a number of its unit (--keepalive-ms 1500).
template <class Duration>
CLI::Option* add_duration(CLI::App& app, const std::string& name, Duration& target,
                          const std::string& help) {
  auto parse = [&target](std::int64_t count) { target = Duration(count); };
  return app.add_option_function<std::int64_t>(name, parse, help)
      ->default_str(std::to_string(target.count()));
}

// A comma-separated list (--cors-origins a,b).
CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::string>& target,
                      const std::string& help) {
  auto parse = [&target](const std::string& text) { target = split_list(text); };
  return app.add_option_function<std::string>(name, parse, help);
}

}  // namespace

std::string_view name_of(HistoryStore mode) { return word_of(kHistoryStores, mode); }
std::string_view name_of(HistorySync mode) { return word_of(kHistorySyncs, mode); }
std::string_view name_of(ReportStore mode) { return word_of(kReportStores, mode); }
std::string_view name_of(BusMode mode) { return word_of(kBusModes, mode); }
std::string_view name_of(AuthMode mode) { return word_of(kAuthModes, mode); }
std::string_view name_of(CpuAffinity mode) { return word_of(kCpuAffinities, mode); }

namespace {

// The options of each section, in the order --help lists them.

void add_listener_options(CLI::App& app, Config& config) {
  app.add_option("--host", config.host, "Address to listen on");
  app.add_option("--port", config.port, "TCP port; 0 picks a free port");
  app.add_option("--port-file", config.port_file, "Write the bound port to this file");
  app.add_option("--threads", config.threads,
                 "I/O threads; 0 = one per CPU this process may use (its affinity mask)")
      ->check(CLI::Range(0u, 256u));
  add_mode(app, "--cpu-affinity", config.cpu_affinity, kCpuAffinities,
           "off: the kernel places the I/O threads; auto: each stays on a CPU of its own when "
           "there are no more of them than CPUs this process may use (a lower latency p99; p99.9 "
           "may grow where other busy processes share the CPUs: see README)");
  app.add_option("--web-root", config.web_root, "Directory of the built web UI served at /");
  add_list(app, "--cors-origins", config.cors_origins,
           "Comma-separated allowed origins, or *; empty = own origin and localhost");
  add_list(app, "--allowed-hosts", config.allowed_hosts,
           "Without --auth: comma-separated Host names answered besides localhost and IP "
           "addresses (DNS rebinding defence), or *");
  app.add_option("--tls-cert", config.tls_cert,
                 "PEM certificate chain; with --tls-key the port serves HTTPS only (TLS 1.2+)");
  app.add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert");
  app.add_flag("--tls-park-idle", config.tls_park_idle,
               "HTTP/1.1 SSE streams over TLS 1.3 and 1.2 (AEAD suites) free OpenSSL's state once "
               "their head is sent (about 14 KB each); --tls-park-idle=false keeps OpenSSL on every "
               "connection");
  app.add_flag("--http2", config.http2,
               "Also serve HTTP/2 on the port: h2c with prior knowledge, and h2 by ALPN over TLS "
               "(for pages that open many streams; an HTTP/2 TLS connection costs more than a "
               "parked HTTP/1.1 one)");
  app.add_option("--http2-max-streams", config.http2_max_streams,
                 "Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS)")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

void add_stream_options(CLI::App& app, Config& config) {
  add_duration(app, "--v1-hi-interval-ms", config.v1_hi_interval,
               "v1: interval between `data: hi!` events")
      ->check(CLI::Range(1, 86400000));
  add_duration(app, "--v1-keepalive-ms", config.v1_keepalive,
               "v1: keep-alive comment after this silence")
      ->check(CLI::Range(1, 86400000));
  add_duration(app, "--keepalive-ms", config.keepalive,
               "v2-v4: keep-alive comment after this silence")
      ->check(CLI::Range(1, 86400000));
  add_duration(app, "--retry-ms", config.retry_hint, "Reconnect delay hinted to clients (`retry:`)")
      ->check(CLI::Range(0, 86400000));
  app.add_option("--stream-queue-bytes", config.stream_queue_bytes,
                 "Unsent bytes a stream may queue before it is closed as too slow")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 34));
  app.add_option("--max-streams-per-user", config.max_streams_per_user,
                 "Open streams one user may hold (more get 429)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  app.add_option("--max-streams", config.max_streams, "Open streams in total; 0 = no limit");
}

void add_history_options(CLI::App& app, Config& config) {
  app.add_option("--data-dir", config.data_dir, "Directory of the embedded database");
  add_mode(app, "--history-store", config.history_store, kHistoryStores,
           "sqlite: events survive restarts (in the data dir); memory: faster, lost on restart; "
           "segment: kept in memory and journaled in the data dir, survives restarts");
  app.add_option("--history-memory-mb", config.history_memory_mb,
                 "With --history-store memory or segment: what all streams' events may take in memory "
                 "(oldest go first)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_option("--history-max-events", config.history_max_events,
                 "Events kept per user for resume")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  add_duration(app, "--history-max-age-s", config.history_max_age,
               "Events older than this are dropped")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  add_mode(app, "--history-sync", config.history_sync, kHistorySyncs,
           "normal: survives crashes, a power loss costs about the last second; full: fdatasync "
           "before each answer (survives power loss)");
  app.add_option("--history-queue-limit", config.history_queue_limit,
                 "Appends waiting for the disk before publishes get 503")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  add_duration(app, "--history-trim-interval-ms", config.history_trim_interval,
               "How often age retention runs")
      ->check(CLI::Range(10, 86400000));
}

void add_request_options(CLI::App& app, Config& config) {
  app.add_option("--max-body-bytes", config.max_body_bytes, "Largest request body (413 above)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20));
  app.add_option("--max-event-bytes", config.max_event_bytes,
                 "Largest published event as sent to clients, `data: ` prefixes and id line "
                 "included (413 above); clients must buffer this much")
      ->check(CLI::Range(std::size_t{64}, std::size_t{64} << 20));
  app.add_option("--max-batch-bytes", config.max_batch_bytes,
                 "Largest body of a batch publish, POST /v2|v3/messages (413 above)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256} << 20));
  app.add_option("--max-header-bytes", config.max_header_bytes,
                 "Largest request header block (431 above)")
      ->check(CLI::Range(std::size_t{512}, std::size_t{1} << 20));
  app.add_option("--max-buffered-body-bytes", config.max_buffered_body_bytes,
                 "Request bodies held in memory at once, all connections together (503 above)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 40));
  app.add_option("--max-username-bytes", config.max_username_bytes, "Longest username")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  add_duration(app, "--request-timeout-ms", config.request_timeout,
               "A request must arrive within this, and idle keep-alive connections close after it")
      ->check(CLI::Range(10, 3600000));
}

void add_report_store_options(CLI::App& app, Config& config) {
  add_mode(app, "--store", config.store, kReportStores, "Report store (v4): sqlite or dynamodb");
  app.add_option("--dynamodb-endpoint", config.dynamodb_endpoint,
                 "DynamoDB endpoint URL; empty = AWS_ENDPOINT_URL_DYNAMODB or the regional one");
  app.add_option("--dynamodb-region", config.dynamodb_region, "empty = AWS_REGION or us-east-1");
  app.add_option("--dynamodb-table", config.dynamodb_table, "DynamoDB table of reports");
  add_duration(app, "--store-timeout-ms", config.store_timeout, "Deadline of one store call")
      ->check(CLI::Range(10, 600000));
}

void add_kafka_options(CLI::App& app, Config& config) {
  app.add_option("--kafka-brokers", config.kafka_brokers,
                 "Kafka bootstrap servers (host:port,...); empty = no Kafka");
  app.add_option("--kafka-group", config.kafka_group, "Consumer group of the v3/v4 topics");
  app.add_option("--kafka-v3-topic", config.kafka_v3_topic, "Topic of `username:message` records");
  app.add_option("--kafka-v4-topic", config.kafka_v4_topic,
                 "Topic of report status records {\"id\", \"status\"}");
  app.add_option("--kafka-instance-id", config.kafka_instance_id,
                 "Stable id of this node in the consumer group; empty = host name + data dir");
  app.add_option("--kafka-topic-partitions", config.kafka_topic_partitions,
                 "Partitions of a v3/v4 topic that does not exist yet, which ssehub creates")
      ->check(CLI::Range(1, 10000));
  app.add_option("--kafka-topic-replication", config.kafka_topic_replication,
                 "Replicas of a v3/v4 topic ssehub creates; -1 = the broker's default")
      ->check(CLI::Range(-1, 100));
  add_mode(app, "--bus", config.bus, kBusModes,
           "local: one self-contained process; kafka: nodes share events through Kafka");
  app.add_option("--bus-topic", config.bus_topic, "Kafka topic carrying every event between nodes");
  app.add_option("--bus-partitions", config.bus_partitions,
                 "Partitions of the bus topic when ssehub creates it")
      ->check(CLI::Range(1, 10000));
  add_duration(app, "--bus-confirm-timeout-ms", config.bus_confirm_timeout,
               "How long a publish waits for Kafka's acknowledgement before a 503 (the event "
               "may still be delivered; retry with the same Idempotency-Key)")
      ->check(CLI::Range(100, 120000));
}

void add_access_options(CLI::App& app, Config& config) {
  add_mode(app, "--auth", config.auth, kAuthModes,
           "none, or jwt: streams and v4 routes need a JWT whose sub is the user");
  app.add_option("--jwt-secret", config.jwt_secret, "HS256 secret of subscriber JWTs");
  app.add_option("--jwt-public-key-file", config.jwt_public_key_file,
                 "RS256 public key (PEM) of subscriber JWTs");
  app.add_option("--publish-token", config.publish_token,
                 "Token publishers must present (Authorization: Bearer or X-Publish-Token)");
  app.add_flag("--insecure-open", config.insecure_open,
               "Allow listening beyond loopback with no authentication");
  app.add_option("--max-connections-per-ip", config.max_connections_per_ip,
                 "Connections one client address may hold; 0 = no limit");
  app.add_option("--rate-limit-rps", config.rate_limit_rps,
                 "Requests per second per client address (429 above); 0 = no limit")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--rate-limit-burst", config.rate_limit_burst, "Burst allowed above the rate")
      ->check(CLI::Range(1.0, 1e9));
}

// Every setting as a command-line argument, the file's first, then the environment's, then
// argv's: with every option taking the last value it is given, that is the precedence.
std::vector<std::string> layered_arguments(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> args;
  if (auto path = find_config_path(argc, argv)) {
    std::map<std::string, std::string> settings;
    try {
      flatten_toml(toml::parse_file(*path), "", settings);
    } catch (const toml::parse_error& e) {
      throw ConfigError("cannot read config file " + *path + ": " + std::string(e.description()));
    }
    for (const auto& [key, value] : settings) {
      if (key == "config") continue;
      bool known = false;
      for (const CLI::Option* opt : app.get_options())
        if (opt->check_lname(key)) known = true;
      if (!known) throw ConfigError("unknown setting '" + key + "' in " + *path);
      args.push_back("--" + key + "=" + value);
    }
  }
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string& name = opt->get_lnames().front();
    if (name == "help" || name == "config") continue;
    if (const char* value = std::getenv(env_name_of(name).c_str()))
      args.push_back("--" + name + "=" + value);
  }
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return args;
}

}  // namespace

ConfigOutcome load_config(int argc, const char* const* argv) {
  Config config;
  CLI::App app{"ssehub: a Server-Sent Events push server", "ssehub"};
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", std::string("ssehub ") + kVersion + " (commit " + kCommit + ")",
                       "Print the version and the commit it was built from, then exit");
  app.footer(
      "Every option can also be set in the environment as SSEHUB_<OPTION> (SSEHUB_PORT=8080,\n"
      "SSEHUB_HISTORY_MAX_EVENTS=50) or in the TOML file named by --config (port = 8080, or\n"
      "[history] max_events = 50). Precedence: flags > environment > file > defaults.");
  std::string config_file;  // read before parsing, by find_config_path
  app.add_option("--config", config_file, "TOML file with settings (keys are option names)");
  add_listener_options(app, config);
  add_stream_options(app, config);
  add_history_options(app, config);
  add_request_options(app, config);
  add_report_store_options(app, config);
  add_kafka_options(app, config);
  add_access_options(app, config);
  for (CLI::Option* opt : app.get_options()) opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  try {
    auto args = layered_arguments(app, argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 consumes a reversed vector
    try {
      app.parse(args);
    } catch (const CLI::ParseError& e) {
      return {std::nullopt, app.exit(e)};
    }
    validate(config);
  } catch (const ConfigError& e) {
    std::cerr << "ssehub: " << e.what() << "\n";
    return {std::nullopt, 2};
  }
  return {config, 0};
}

void validate(const Config& config) {
  if (config.bus == BusMode::Kafka && config.kafka_brokers.empty())
    throw ConfigError("--bus kafka needs --kafka-brokers");
  // A node of a cluster records in its history database how far it applied the bus.
  if (config.bus == BusMode::Kafka && config.history_store == HistoryStore::Memory)
    throw ConfigError(
        "--bus kafka needs --history-store sqlite or segment (each node keeps its place in the "
        "bus there)");
  if (config.tls_cert.empty() != config.tls_key.empty())
    throw ConfigError("--tls-cert and --tls-key go together: give both, or neither");
  if (config.auth == AuthMode::Jwt && config.jwt_secret.empty() && config.jwt_public_key_file.empty())
    throw ConfigError("--auth jwt needs --jwt-secret or --jwt-public-key-file");
  if (!config.jwt_secret.empty() && config.jwt_secret.size() < 32)
    throw ConfigError("--jwt-secret has " + std::to_string(config.jwt_secret.size()) +
                      " bytes; an HS256 secret needs at least 32 (RFC 7518 section 3.2)");
  // Secure by default: without authentication, only this machine may connect.
  if (config.auth == AuthMode::None && !config.listens_on_loopback_only() && !config.insecure_open)
    throw ConfigError("refusing to listen on " + config.host +
                      " without authentication; configure --auth jwt, or pass --insecure-open");
}

namespace {

std::string describe_history(const Config& config) {
  if (config.history_store == HistoryStore::Memory)
    return "memory (up to " + std::to_string(config.history_memory_mb) + " MiB, lost on restart)";
  if (config.history_store == HistoryStore::Segment)
    return "segment (up to " + std::to_string(config.history_memory_mb) + " MiB in memory, " +
           (config.history_sync == HistorySync::Full
                ? "fdatasync before each answer)"
                : "journaled: survives crashes, a power loss costs about the last second)");
  return std::string("sqlite (") +
         (config.history_sync == HistorySync::Full ? "fsync each commit"
                                                   : "survives crashes, not power loss") +
         ")";
}

std::string describe_access(const Config& config) {
  const bool jwt = config.auth == AuthMode::Jwt;
  std::string access = jwt ? "jwt" : "none (streams open to anyone who can connect)";
  if (!config.publish_token.empty()) return access + ", publish token";
  return access + (jwt ? ", publishing with an ssehub:publish JWT" : ", publishing open");
}

}  // namespace

std::string describe_modes(const Config& config) {
  return "history: " + describe_history(config) + "; reports: " + std::string(name_of(config.store)) +
         "; bus: " + (config.bus == BusMode::Kafka ? "kafka (" + config.bus_topic + ")" : "local") +
         "; kafka ingestion: " +
         (config.kafka_brokers.empty() ? "off" : "on (" + config.kafka_brokers + ")") +
         "; auth: " + describe_access(config);
}

}  // namespace ssehub::config
