#include "config/config.hpp"
#include "support/temp_path.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using ssehub::config::load_config;

namespace {

class TlsConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"SSEHUB_TLS_CERT", "SSEHUB_TLS_KEY", "SSEHUB_TLS_PARK_IDLE"}) unsetenv(name);
    std::filesystem::remove(file_);
  }
  ssehub::config::ConfigOutcome load(std::vector<const char*> args) {
    args.insert(args.begin(), "ssehub");
    return ssehub::config::load_config(static_cast<int>(args.size()), args.data());
  }
  std::string file_ =
      ssehub::test_support::unique_temp_path("ssehub_tls_config_test", ".toml").string();
};

}  // namespace

TEST_F(TlsConfigTest, PlainHttpByDefault) {
  auto outcome = load({});
  ASSERT_TRUE(outcome.config);
  EXPECT_TRUE(outcome.config->tls_cert.empty());
  EXPECT_TRUE(outcome.config->tls_key.empty());
}

TEST_F(TlsConfigTest, CertificateAndKeyGoTogether) {
  // The files are only read at start-up (make_tls_context); here only their pairing counts.
  EXPECT_EQ(load({"--tls-cert", "cert.pem"}).exit_code, 2);
  EXPECT_FALSE(load({"--tls-key", "key.pem"}).config);
  auto outcome = load({"--tls-cert", "cert.pem", "--tls-key", "key.pem"});
  ASSERT_TRUE(outcome.config);
  EXPECT_EQ(outcome.config->tls_cert, "cert.pem");
  EXPECT_EQ(outcome.config->tls_key, "key.pem");
}

TEST_F(TlsConfigTest, FilesComeFromTheEnvironmentOrATlsTable) {
  setenv("SSEHUB_TLS_CERT", "/env/cert.pem", 1);
  setenv("SSEHUB_TLS_KEY", "/env/key.pem", 1);
  auto from_env = load({});
  ASSERT_TRUE(from_env.config);
  EXPECT_EQ(from_env.config->tls_cert, "/env/cert.pem");
  EXPECT_EQ(from_env.config->tls_key, "/env/key.pem");
  TearDown();

  std::ofstream(file_) << "[tls]\ncert = \"/file/cert.pem\"\nkey = \"/file/key.pem\"\n";
  auto from_file = load({"--config", file_.c_str()});
  ASSERT_TRUE(from_file.config);
  EXPECT_EQ(from_file.config->tls_cert, "/file/cert.pem");
  EXPECT_EQ(from_file.config->tls_key, "/file/key.pem");
}

TEST_F(TlsConfigTest, IdleStreamsAreParkedUnlessTurnedOff) {
  auto outcome = load({});
  ASSERT_TRUE(outcome.config);
  EXPECT_TRUE(outcome.config->tls_park_idle);
  outcome = load({"--tls-park-idle=false"});
  ASSERT_TRUE(outcome.config);
  EXPECT_FALSE(outcome.config->tls_park_idle);
  setenv("SSEHUB_TLS_PARK_IDLE", "false", 1);
  outcome = load({});
  ASSERT_TRUE(outcome.config);
  EXPECT_FALSE(outcome.config->tls_park_idle);
  outcome = load({"--tls-park-idle"});  // flags over the environment
  ASSERT_TRUE(outcome.config);
  EXPECT_TRUE(outcome.config->tls_park_idle);
}
