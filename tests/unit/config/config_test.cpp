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

TEST_F(ConfigTest, HistoryStoreIsSqliteUnlessMemoryIsAsked) {
  auto defaults = load({});
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->history_store, "sqlite");
  auto memory = load({"--history-store", "memory", "--history-memory-mb", "64"});
  ASSERT_TRUE(memory.config);
  EXPECT_EQ(memory.config->history_store, "memory");
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
