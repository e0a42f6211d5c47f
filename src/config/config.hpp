#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ssehub::config {

using Millis = std::chrono::milliseconds;

// The modes, each parsed once from its word in flags, environment and files (see name_of).
enum class HistoryStore { Sqlite, Memory, Segment };  // sqlite | memory (lost on restart) | segment
enum class HistorySync { Full, Normal };     // full: fsync every group commit | normal
enum class ReportStore { Sqlite, DynamoDb };  // sqlite | dynamodb
enum class BusMode { Local, Kafka };          // local | kafka (nodes share events)
enum class AuthMode { None, Jwt };            // none | jwt
enum class CpuAffinity { Off, Auto };         // off | auto (each I/O thread on a CPU of its own)

// The word that selects a mode (`--bus kafka`), as the start-up log says it too.
std::string_view name_of(HistoryStore mode);
std::string_view name_of(HistorySync mode);
std::string_view name_of(ReportStore mode);
std::string_view name_of(BusMode mode);
std::string_view name_of(AuthMode mode);
std::string_view name_of(CpuAffinity mode);

// Every setting of a running ssehub. Loaded once at start-up with precedence
// flags > environment (SSEHUB_*) > TOML file > the defaults written here.
struct Config {
  // Listener
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;
  std::string port_file;
  unsigned threads = 0;  // 0 = one I/O thread per CPU this process may use
  CpuAffinity cpu_affinity = CpuAffinity::Off;
  std::string web_root = "web/dist";
  std::vector<std::string> cors_origins;  // empty = own origin and localhost origins
  // Without auth: Host names answered besides localhost and IP addresses; "*" = any.
  std::vector<std::string> allowed_hosts;
  std::string log_level = "info";
  std::string tls_cert;  // PEM certificate chain; with tls_key, the listener speaks HTTPS only
  std::string tls_key;   // PEM private key of tls_cert
  // Idle HTTP/1.1 SSE streams over TLS 1.3 and 1.2 (AEAD suites) give up OpenSSL's state (TlsStream::park).
  bool tls_park_idle = true;
  // HTTP/2 on the same port (h2c with prior knowledge; h2 by ALPN over TLS). Off until it
  // does all that HTTP/1.1 does (issue 16).
  bool http2 = false;
  std::uint32_t http2_max_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS per connection

  // Streams
  Millis v1_hi_interval{15000};
  Millis v1_keepalive{3000};
  Millis keepalive{30000};
  Millis retry_hint{3000};
  std::size_t stream_queue_bytes = 1 << 20;
  std::size_t max_streams_per_user = 32;
  std::size_t max_streams = 0;  // 0 = bounded only by the file limit

  // History
  std::string data_dir = "./data";
  HistoryStore history_store = HistoryStore::Segment;
  std::size_t history_memory_mb = 256;   // memory, segment: all streams together
  std::size_t history_max_events = 1000;  // per user
  std::chrono::seconds history_max_age{24 * 3600};
  HistorySync history_sync = HistorySync::Normal;
  std::size_t history_queue_limit = 65536;  // appends waiting for the writer
  Millis history_trim_interval{10000};

  // Requests
  std::size_t max_body_bytes = 64 * 1024;
  // The largest event as sent (every line with its `data: ` prefix, the longest id): Go's SSE
  // clients buffer one event in 64 KiB by default, comment lines included.
  std::size_t max_event_bytes = 60 * 1024;
  std::size_t max_batch_bytes = 1024 * 1024;  // POST /v2|v3/messages
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_buffered_body_bytes = 64 * 1024 * 1024;  // all request bodies at once
  std::size_t max_username_bytes = 256;
  Millis request_timeout{10000};

  // Reports (v4)
  ReportStore store = ReportStore::Sqlite;
  std::string dynamodb_endpoint;  // empty = AWS_ENDPOINT_URL_DYNAMODB or AWS's regional endpoint
  std::string dynamodb_region;    // empty = AWS_REGION or us-east-1
  std::string dynamodb_table = "report_status";
  Millis store_timeout{5000};

  // Kafka (v3 ingestion, v4 status records, and the cluster bus)
  std::string kafka_brokers;  // empty = no Kafka at all
  std::string kafka_group = "server_sent_events_v3";
  std::string kafka_v3_topic = "v3_messages";
  std::string kafka_v4_topic = "v4_messages";
  std::string kafka_instance_id;  // empty = derived from the host name and data dir
  int kafka_topic_partitions = 1;    // of a v3/v4 topic ssehub creates
  int kafka_topic_replication = -1;  // of a v3/v4 topic ssehub creates; -1 = broker default
  BusMode bus = BusMode::Local;
  std::string bus_topic = "ssehub_events";
  int bus_partitions = 12;
  // How long a publish waits for Kafka to acknowledge it before answering 503.
  Millis bus_confirm_timeout{1500};

  // Access
  AuthMode auth = AuthMode::None;
  std::string jwt_secret;     // HS256 shared secret
  std::string jwt_public_key_file;  // RS256 public key (PEM)
  std::string publish_token;  // required of publishers when set
  bool insecure_open = false;  // allow a non-loopback address without auth
  std::size_t max_connections_per_ip = 0;  // 0 = no limit
  double rate_limit_rps = 0;               // requests per second per address; 0 = no limit
  double rate_limit_burst = 100;

  unsigned io_threads() const;
  // The CPU each I/O thread is kept on (IoPool), or none: with --cpu-affinity auto, one each
  // when the threads do not outnumber the usable CPUs.
  std::vector<unsigned> io_thread_cpus() const;
  // The address is loopback-only (127.0.0.0/8, ::1, localhost).
  bool listens_on_loopback_only() const;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What load_config decided: run with a config, or exit at once (after --help or a bad option).
struct ConfigOutcome {
  std::optional<Config> config;
  int exit_code = 0;
};

// Parses argv, the SSEHUB_* environment and the TOML file named by --config/SSEHUB_CONFIG,
// then validates the result. Prints help or errors itself.
ConfigOutcome load_config(int argc, const char* const* argv);

// The rules between options (--bus kafka needs --kafka-brokers, no listening beyond loopback
// without authentication, ...); throws ConfigError saying the first one broken.
void validate(const Config& config);

// What the modes choose, in words, for the start-up log: "history: sqlite (fsync each
// commit); reports: sqlite; bus: local; kafka ingestion: off; auth: ...".
std::string describe_modes(const Config& config);

}  // namespace ssehub::config
