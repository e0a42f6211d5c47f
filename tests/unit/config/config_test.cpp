#include "config/config.hpp"
#include "support/temp_path.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using ssehub::config::load_config;

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"SSEHUB_PORT", "SSEHUB_HOST", "SSEHUB_CONFIG", "SSEHUB_HISTORY_MAX_EVENTS"})
      unsetenv(name);
    std::filesystem::remove(file_);
  }
  std::string write_toml(const std::string& text) {
    std::ofstream(file_) << text;
    return file_;
  }
  ssehub::config::ConfigOutcome load(std::vector<const char*> args) {
    args.insert(args.begin(), "ssehub");
    return load_config(static_cast<int>(args.size()), args.data());
  }
  std::string file_ =
      ssehub::test_support::unique_temp_path("ssehub_config_test", ".toml").string();
};

}  // namespace

TEST_F(ConfigTest, DefaultsMatchTheDocumentedOnes) {
  auto outcome = load({});
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->host, "127.0.0.1");
  EXPECT_EQ(outcome.config->port, 3000);
  EXPECT_EQ(outcome.config->data_dir, "./data");
  EXPECT_EQ(outcome.config->keepalive, std::chrono::milliseconds(30000));
  EXPECT_EQ(outcome.config->v1_keepalive, std::chrono::milliseconds(3000));
  EXPECT_EQ(outcome.config->v1_hi_interval, std::chrono::milliseconds(15000));
  EXPECT_EQ(outcome.config->max_body_bytes, 65536u);
  EXPECT_EQ(outcome.config->max_streams_per_user, 32u);
}

TEST_F(ConfigTest, FlagsBeatEnvironmentWhichBeatsTheFile) {
  const auto path = write_toml("port = 1111\nhost = \"0.0.0.0\"\n[history]\nmax_events = 7\n");
  setenv("SSEHUB_PORT", "2222", 1);
  setenv("SSEHUB_HOST", "127.0.0.2", 1);
  auto outcome = load({"--config", path.c_str(), "--port", "3333"});
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->port, 3333);            // flag
  EXPECT_EQ(outcome.config->host, "127.0.0.2");     // environment over file
  EXPECT_EQ(outcome.config->history_max_events, 7u);  // file, through a [history] table
}

TEST_F(ConfigTest, ConfigFileMayComeFromTheEnvironment) {
  const auto path = write_toml("keepalive_ms = 1500\n");
  setenv("SSEHUB_CONFIG", path.c_str(), 1);
  auto outcome = load({});
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->keepalive, std::chrono::milliseconds(1500));
}

TEST_F(ConfigTest, UnknownFileSettingIsAnError) {
  const auto path = write_toml("no_such_setting = 1\n");
  auto outcome = load({"--config", path.c_str()});
  EXPECT_FALSE(outcome.config);
  EXPECT_NE(outcome.exit_code, 0);
}

TEST_F(ConfigTest, OutOfRangeValueIsRejected) {
  auto outcome = load({"--max-streams-per-user", "0"});
  EXPECT_FALSE(outcome.config);
  EXPECT_NE(outcome.exit_code, 0);
}

TEST_F(ConfigTest, HelpExitsZeroWithoutConfig) {
  auto outcome = load({"--help"});
  EXPECT_FALSE(outcome.config);
  EXPECT_EQ(outcome.exit_code, 0);
}

TEST_F(ConfigTest, HistoryStoreIsSegmentUnlessAnotherIsAsked) {
  auto defaults = load({});
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->history_store, ssehub::config::HistoryStore::Segment);
  EXPECT_EQ(load({"--history-store", "sqlite"}).config->history_store,
            ssehub::config::HistoryStore::Sqlite);
  auto memory = load({"--history-store", "memory", "--history-memory-mb", "64"});
  ASSERT_TRUE(memory.config);
  EXPECT_EQ(memory.config->history_store, ssehub::config::HistoryStore::Memory);
  EXPECT_EQ(memory.config->history_memory_mb, 64u);
  EXPECT_FALSE(load({"--history-store", "redis"}).config);
  EXPECT_FALSE(load({"--history-store", "memory", "--history-memory-mb", "0"}).config);
}

TEST_F(ConfigTest, ClusterBusNeedsTheSqliteHistory) {
  // Each node records in its history database how far it applied the bus.
  auto outcome =
      load({"--bus", "kafka", "--kafka-brokers", "127.0.0.1:9092", "--history-store", "memory"});
  EXPECT_FALSE(outcome.config);
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_TRUE(load({"--bus", "kafka", "--kafka-brokers", "127.0.0.1:9092"}).config);
}

TEST_F(ConfigTest, BusConfirmTimeoutIsShortByDefaultAndBounded) {
  EXPECT_EQ(load({}).config->bus_confirm_timeout, std::chrono::milliseconds(1500));
  auto set = load({"--bus-confirm-timeout-ms", "800"});
  ASSERT_TRUE(set.config);
  EXPECT_EQ(set.config->bus_confirm_timeout, std::chrono::milliseconds(800));
  // Below 100 ms Kafka could not acknowledge even when healthy; above 2 min is a hang.
  EXPECT_FALSE(load({"--bus-confirm-timeout-ms", "99"}).config);
  EXPECT_FALSE(load({"--bus-confirm-timeout-ms", "120001"}).config);
  EXPECT_FALSE(load({"--bus-confirm-timeout-ms", "soon"}).config);
}

TEST_F(ConfigTest, ModesAreParsedOnceFromFileEnvironmentOrFlag) {
  const auto path = write_toml("bus = \"kafka\"\nkafka_brokers = \"127.0.0.1:9092\"\n[history]\nsync = \"normal\"\n");
  setenv("SSEHUB_AUTH", "jwt", 1);
  setenv("SSEHUB_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
  auto outcome = load({"--config", path.c_str(), "--store", "dynamodb"});
  unsetenv("SSEHUB_AUTH");
  unsetenv("SSEHUB_JWT_SECRET");
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->bus, ssehub::config::BusMode::Kafka);                 // file
  EXPECT_EQ(outcome.config->history_sync, ssehub::config::HistorySync::Normal);  // file, [history]
  EXPECT_EQ(outcome.config->auth, ssehub::config::AuthMode::Jwt);                 // environment
  EXPECT_EQ(outcome.config->store, ssehub::config::ReportStore::DynamoDb);        // flag

  auto defaults = load({});
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->bus, ssehub::config::BusMode::Local);
  EXPECT_EQ(defaults.config->history_sync, ssehub::config::HistorySync::Normal);
  EXPECT_EQ(defaults.config->auth, ssehub::config::AuthMode::None);
  EXPECT_EQ(defaults.config->store, ssehub::config::ReportStore::Sqlite);
}

TEST_F(ConfigTest, IoThreadsStayWhereTheKernelPutsThemUnlessAskedAndTheyFit) {
  using namespace ssehub::config;
  auto defaults = load({"--threads", "1"});
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->cpu_affinity, CpuAffinity::Off);
  EXPECT_TRUE(defaults.config->io_thread_cpus().empty());

  auto pinned = load({"--threads", "1", "--cpu-affinity", "auto"});
  ASSERT_TRUE(pinned.config);
  EXPECT_EQ(pinned.config->cpu_affinity, CpuAffinity::Auto);
  EXPECT_EQ(pinned.config->io_thread_cpus().size(), 1u);

  // More I/O threads than this machine has CPUs: none is pinned.
  auto crowded = load({"--threads", "256", "--cpu-affinity", "auto"});
  ASSERT_TRUE(crowded.config);
  EXPECT_TRUE(crowded.config->io_thread_cpus().empty());

  setenv("SSEHUB_CPU_AFFINITY", "auto", 1);
  auto from_environment = load({});
  unsetenv("SSEHUB_CPU_AFFINITY");
  ASSERT_TRUE(from_environment.config);
  EXPECT_EQ(from_environment.config->cpu_affinity, CpuAffinity::Auto);
  // One I/O thread per usable CPU by default, so with auto each gets one.
  const Config& environment = *from_environment.config;
  EXPECT_EQ(environment.io_thread_cpus().size(), environment.io_threads());

  auto from_file = load({"--config", write_toml("cpu_affinity = \"auto\"\n").c_str()});
  ASSERT_TRUE(from_file.config);
  EXPECT_EQ(from_file.config->cpu_affinity, CpuAffinity::Auto);
  EXPECT_FALSE(load({"--cpu-affinity", "0,1"}).config);
  EXPECT_EQ(name_of(CpuAffinity::Auto), "auto");
}

TEST_F(ConfigTest, EachModeIsNamedByTheWordThatSelectsIt) {
  using namespace ssehub::config;
  EXPECT_EQ(name_of(HistoryStore::Memory), "memory");
  EXPECT_EQ(name_of(HistorySync::Normal), "normal");
  EXPECT_EQ(name_of(ReportStore::DynamoDb), "dynamodb");
  EXPECT_EQ(name_of(BusMode::Kafka), "kafka");
  EXPECT_EQ(name_of(AuthMode::Jwt), "jwt");
  // A later flag wins over an earlier one, as for every option.
  auto outcome = load({"--bus", "local", "--history-store", "memory", "--history-store", "sqlite"});
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->history_store, HistoryStore::Sqlite);
}

TEST_F(ConfigTest, ValidationSaysTheFirstBrokenRuleBetweenOptions) {
  using namespace ssehub::config;
  auto message_of = [](const Config& config) {
    try {
      validate(config);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("valid");
  };
  Config config;
  EXPECT_EQ(message_of(config), "valid");
  config.bus = BusMode::Kafka;
  EXPECT_EQ(message_of(config), "--bus kafka needs --kafka-brokers");
  config.kafka_brokers = "127.0.0.1:9092";
  config.history_store = HistoryStore::Memory;
  EXPECT_EQ(message_of(config),
            "--bus kafka needs --history-store sqlite or segment (each node keeps its place in the bus "
            "there)");
  config.history_store = HistoryStore::Sqlite;
  config.auth = AuthMode::Jwt;
  EXPECT_EQ(message_of(config), "--auth jwt needs --jwt-secret or --jwt-public-key-file");
  config.jwt_secret = "short";
  EXPECT_EQ(message_of(config),
            "--jwt-secret has 5 bytes; an HS256 secret needs at least 32 (RFC 7518 section 3.2)");
  config.jwt_secret = std::string(32, 's');
  config.host = "0.0.0.0";
  EXPECT_EQ(message_of(config), "valid");  // authenticated: any address
  config.auth = AuthMode::None;
  EXPECT_EQ(message_of(config),
            "refusing to listen on 0.0.0.0 without authentication; configure --auth jwt, or pass "
            "--insecure-open");
  config.insecure_open = true;
  EXPECT_EQ(message_of(config), "valid");
}

TEST_F(ConfigTest, TheStartUpLogDescribesTheModesInWords) {
  using namespace ssehub::config;
  EXPECT_EQ(describe_modes(Config{}),
            "history: segment (up to 256 MiB in memory, journaled: survives crashes, a power loss "
            "costs about the last second); reports: sqlite; bus: local; kafka ingestion: off; "
            "auth: none (streams open to anyone who can connect), publishing open");
  Config config;
  config.history_sync = HistorySync::Full;
  EXPECT_TRUE(describe_modes(config).starts_with(
      "history: segment (up to 256 MiB in memory, fdatasync before each answer); "));
  config.history_store = HistoryStore::Sqlite;
  EXPECT_TRUE(describe_modes(config).starts_with("history: sqlite (fsync each commit); "));
  config.history_store = HistoryStore::Memory;
  config.history_memory_mb = 64;
  config.store = ReportStore::DynamoDb;
  config.bus = BusMode::Kafka;
  config.kafka_brokers = "k:9092";
  config.auth = AuthMode::Jwt;
  EXPECT_EQ(describe_modes(config),
            "history: memory (up to 64 MiB, lost on restart); reports: dynamodb; bus: kafka "
            "(ssehub_events); kafka ingestion: on (k:9092); auth: jwt, publishing with an "
            "ssehub:publish JWT");
}
