// DynamoDbStore against a real DynamoDB API. The tests that need one run only when
// SSEHUB_TEST_DYNAMODB_ENDPOINT names it, e.g. dynalite:
//   scripts/dynamodb-local start
//   SSEHUB_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:8111 build/ssehub_unit_tests
//   --gtest_filter='DynamoDb*' scripts/dynamodb-local stop
// Each run creates a table of its own and deletes it afterwards.

#include "core/ids.hpp"
#include "domain/report.hpp"
#include "store/dynamodb/dynamodb_client.hpp"
#include "store/dynamodb/dynamodb_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <thread>

namespace ssehub::store {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Kind = TransitionOutcome::Kind;

// --- Options from config and environment --------------------------------------------------

DynamoDbOptions::EnvLookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    if (auto it = values.find(name); it != values.end()) return it->second;
    return std::nullopt;
  };
}

TEST(DynamoDbOptions, DefaultsToAwsRegionalEndpointWithKeysFromTheEnvironment) {
  const auto options =
      DynamoDbOptions::from_environment(config::Config{}, fake_env({{"AWS_REGION", "eu-west-1"},
                                                            {"AWS_DEFAULT_REGION", "us-west-2"},
                                                            {"AWS_ACCESS_KEY_ID", "AKID"},
                                                            {"AWS_SECRET_ACCESS_KEY", "secret"},
                                                            {"AWS_SESSION_TOKEN", "token"}}));
  EXPECT_EQ(options.region, "eu-west-1");
  EXPECT_EQ(options.endpoint, "https://dynamodb.eu-west-1.amazonaws.com");
  EXPECT_EQ(options.table, "report_status");
  EXPECT_EQ(options.timeout, config::Config{}.store_timeout);
  EXPECT_EQ(options.access_key_id, "AKID");
  EXPECT_EQ(options.secret_access_key, "secret");
  EXPECT_EQ(options.session_token, "token");
}

TEST(DynamoDbOptions, FallsBackToAwsDefaultRegionThenUsEast1) {
  const auto keys = std::map<std::string, std::string>{{"AWS_ACCESS_KEY_ID", "a"},
                                                       {"AWS_SECRET_ACCESS_KEY", "s"}};
  auto with_default = keys;
  with_default["AWS_DEFAULT_REGION"] = "ap-south-1";
  EXPECT_EQ(DynamoDbOptions::from_environment(config::Config{}, fake_env(with_default)).region,
            "ap-south-1");
  EXPECT_EQ(DynamoDbOptions::from_environment(config::Config{}, fake_env(keys)).region, "us-east-1");
}

TEST(DynamoDbOptions, ConfigWinsOverTheEnvironment) {
  config::Config config;
  config.dynamodb_endpoint = "http://127.0.0.1:9000";
  config.dynamodb_region = "eu-central-1";
  config.dynamodb_table = "reports_test";
  config.store_timeout = 1234ms;
  const auto options = DynamoDbOptions::from_environment(
      config, fake_env({{"AWS_REGION", "eu-west-1"},
                        {"AWS_ENDPOINT_URL_DYNAMODB", "http://elsewhere:1"},
                        {"AWS_ACCESS_KEY_ID", "AKID"},
                        {"AWS_SECRET_ACCESS_KEY", "secret"}}));
  EXPECT_EQ(options.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(options.region, "eu-central-1");
  EXPECT_EQ(options.table, "reports_test");
  EXPECT_EQ(options.timeout, 1234ms);
  EXPECT_EQ(options.access_key_id, "AKID");
}

TEST(DynamoDbOptions, EndpointComesFromTheDynamoDbVariableBeforeTheGeneralOne) {
  const auto options = DynamoDbOptions::from_environment(
      config::Config{}, fake_env({{"AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000"},
                          {"AWS_ENDPOINT_URL", "http://localhost:4566"}}));
  EXPECT_EQ(options.endpoint, "http://localhost:8000");
  EXPECT_EQ(DynamoDbOptions::from_environment(
                config::Config{}, fake_env({{"AWS_ENDPOINT_URL", "http://localhost:4566"}}))
                .endpoint,
            "http://localhost:4566");
}

TEST(DynamoDbOptions, LocalEndpointGetsDummyKeysWhenNoneAreSet) {
  config::Config config;
  config.dynamodb_endpoint = "http://127.0.0.1:8111";
  const auto options = DynamoDbOptions::from_environment(config, fake_env({}));
  EXPECT_FALSE(options.access_key_id.empty());
  EXPECT_FALSE(options.secret_access_key.empty());
}

TEST(DynamoDbOptions, RemoteEndpointWithoutKeysIsAStartUpError) {
  EXPECT_THROW(DynamoDbOptions::from_environment(config::Config{}, fake_env({{"AWS_ACCESS_KEY_ID", "a"}})),
               config::ConfigError);
  config::Config config;
  config.dynamodb_endpoint = "https://dynamodb.example.internal";
  EXPECT_THROW(DynamoDbOptions::from_environment(config, fake_env({})), config::ConfigError);
}

TEST(DynamoDbOptions, MalformedEndpointIsAStartUpError) {
  config::Config config;
  config.dynamodb_endpoint = "127.0.0.1:8111";
  EXPECT_THROW(DynamoDbOptions::from_environment(config, fake_env({})), config::ConfigError);
  DynamoDbOptions options;
  options.endpoint = "dynamodb://x";
  EXPECT_THROW(DynamoDbStore{options}, config::ConfigError);
}

// --- Against a live endpoint ----------------------------------------------------------------

unsigned short closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(DynamoDbStore, UnreachableEndpointIsStoreUnavailableWithinTheTimeout) {
  DynamoDbOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  options.region = "us-east-1";
  options.access_key_id = options.secret_access_key = "local";
  options.timeout = 3s;
  DynamoDbStore store(options);

  const auto start = Clock::now();
  try {
    store.get(core::random_uuid());
    FAIL() << "expected StoreUnavailable";
  } catch (const StoreUnavailable& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind("DynamoDB at " + options.endpoint +
                                        " unreachable: Connection refused (GetItem, 5 attempts)",
                                    0),
        0u)
        << e.what();
  }
  EXPECT_LT(Clock::now() - start, options.timeout);
  EXPECT_FALSE(store.ping());
}

// One table for the whole suite (creating one takes a while even on dynalite); each test
// works with users of its own.
class DynamoDbStoreLive : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* endpoint = std::getenv("SSEHUB_TEST_DYNAMODB_ENDPOINT");
    if (endpoint == nullptr || *endpoint == '\0') return;
    options_.endpoint = endpoint;
    options_.region = "us-east-1";
    options_.table = "ssehub_test_" + core::random_uuid().substr(0, 8);
    options_.access_key_id = options_.secret_access_key = "local";
    options_.timeout = 5s;
    options_.query_page_limit = 2;  // a handful of items then spans several pages
    admin_ = std::make_unique<dynamodb::DynamoDbClient>(
        options_.endpoint, options_.region,
        dynamodb::AwsCredentials{options_.access_key_id, options_.secret_access_key, ""});
    create_table();
  }

  static void TearDownTestSuite() {
    if (!admin_) return;
    try {
      admin_->call("DeleteTable", {{"TableName", options_.table}}, Clock::now() + 10s);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not delete test table " << options_.table << ": " << e.what();
    }
    admin_.reset();
  }

  void SetUp() override {
    if (!admin_)
      GTEST_SKIP()
          << "set SSEHUB_TEST_DYNAMODB_ENDPOINT (e.g. scripts/dynamodb-local start) to run";
    store_ = std::make_unique<DynamoDbStore>(options_);
  }

  static void create_table() {
    const json request = {{"TableName", options_.table},
                          {"AttributeDefinitions",
                           {{{"AttributeName", "report_id"}, {"AttributeType", "S"}},
                            {{"AttributeName", "user_id"}, {"AttributeType", "S"}}}},
                          {"KeySchema", {{{"AttributeName", "report_id"}, {"KeyType", "HASH"}}}},
                          {"GlobalSecondaryIndexes",
                           {{{"IndexName", "UserIdIndex"},
                             {"KeySchema", {{{"AttributeName", "user_id"}, {"KeyType", "HASH"}}}},
                             {"Projection", {{"ProjectionType", "ALL"}}}}}},
                          {"BillingMode", "PAY_PER_REQUEST"}};
    admin_->call("CreateTable", request, Clock::now() + 10s);
    const auto deadline = Clock::now() + 60s;
    for (;;) {
      const json table = admin_->call("DescribeTable", {{"TableName", options_.table}},
                                      Clock::now() + 5s)["Table"];
      bool active = table["TableStatus"] == "ACTIVE";
      for (const auto& index : table.value("GlobalSecondaryIndexes", json::array()))
        active = active && index["IndexStatus"] == "ACTIVE";
      if (active) return;
      ASSERT_LT(Clock::now(), deadline) << "table never became ACTIVE: " << table.dump();
      std::this_thread::sleep_for(100ms);
    }
  }

  static Report make_report(const std::string& user, std::int64_t created_ms,
                            ReportStatus status = ReportStatus::Pending) {
    return Report{user, core::random_uuid(), status, created_ms, created_ms};
  }

  static bool contains_id(const std::vector<Report>& reports, const std::string& report_id) {
    return std::any_of(reports.begin(), reports.end(),
                       [&](const Report& r) { return r.report_id == report_id; });
  }

  static inline DynamoDbOptions options_;
  static inline std::unique_ptr<dynamodb::DynamoDbClient> admin_;
  std::unique_ptr<DynamoDbStore> store_;
};

void expect_same(const Report& actual, const Report& expected) {
  EXPECT_EQ(actual.report_id, expected.report_id);
  EXPECT_EQ(actual.user_id, expected.user_id);
  EXPECT_EQ(actual.status, expected.status);
  EXPECT_EQ(actual.created_ms, expected.created_ms);
  EXPECT_EQ(actual.updated_ms, expected.updated_ms);
}

TEST_F(DynamoDbStoreLive, PingsAnExistingTableButNotAMissingOne) {
  EXPECT_TRUE(store_->ping());
  DynamoDbOptions missing = options_;
  missing.table = "ssehub_test_missing_" + core::random_uuid().substr(0, 8);
  EXPECT_FALSE(DynamoDbStore(missing).ping());
}

TEST_F(DynamoDbStoreLive, GetReturnsACreatedReportExactly) {
  const Report report = make_report(core::random_uuid(), 1'764'370'855'123);
  store_->create(report);
  const auto stored = store_->get(report.report_id);
  ASSERT_TRUE(stored.has_value());
  expect_same(*stored, report);
  EXPECT_FALSE(store_->get(core::random_uuid()).has_value());
}

TEST_F(DynamoDbStoreLive, CreatingTheSameReportTwiceFails) {
  const Report report = make_report(core::random_uuid(), 1'764'370'855'000);
  store_->create(report);
  Report again = report;
  again.user_id = core::random_uuid();
  EXPECT_THROW(store_->create(again), StoreUnavailable);
  EXPECT_EQ(store_->get(report.report_id)->user_id, report.user_id);
}

TEST_F(DynamoDbStoreLive, ListsEveryReportOfAUserOldestFirstAcrossPages) {
  const std::string user = core::random_uuid();
  const std::string other_user = core::random_uuid();
  std::vector<Report> created;
  for (int i = 0; i < 7; ++i) created.push_back(make_report(user, 1'764'370'000'000 + i * 1000));
  // Two reports created in the same millisecond are ordered by id.
  created.push_back(make_report(user, 1'764'370'003'000));
  std::vector<Report> insertion_order = created;
  std::shuffle(insertion_order.begin(), insertion_order.end(), std::mt19937(42));
  for (const Report& report : insertion_order) store_->create(report);
  store_->create(make_report(other_user, 1'764'370'000'500));

  std::sort(created.begin(), created.end(), [](const Report& a, const Report& b) {
    return std::tie(a.created_ms, a.report_id) < std::tie(b.created_ms, b.report_id);
  });
  // With two items a page, all eight arrive only if every page was followed (provided the
  // endpoint honours Limit, which is checked first).
  const json first_page = admin_->call("Query",
                                       {{"TableName", options_.table},
                                        {"IndexName", "UserIdIndex"},
                                        {"KeyConditionExpression", "user_id = :u"},
                                        {"ExpressionAttributeValues", {{":u", {{"S", user}}}}},
                                        {"Limit", options_.query_page_limit}},
                                       Clock::now() + 5s);
  ASSERT_TRUE(first_page.contains("LastEvaluatedKey")) << first_page.dump();
  const std::vector<Report> listed = store_->list_by_user(user);
  ASSERT_EQ(listed.size(), created.size());
  for (std::size_t i = 0; i < listed.size(); ++i) expect_same(listed[i], created[i]);

  EXPECT_EQ(store_->list_by_user(other_user).size(), 1u);
  EXPECT_TRUE(store_->list_by_user(core::random_uuid()).empty());
}

TEST_F(DynamoDbStoreLive, TransitionAppliesWhenTheStatusStillMatches) {
  const Report report = make_report(core::random_uuid(), 1'764'370'855'000);
  store_->create(report);
  const TransitionOutcome outcome =
      store_->transition(report.user_id, report.report_id, ReportStatus::Pending,
                         ReportStatus::Queued, 1'764'370'856'250);
  ASSERT_EQ(outcome.kind, Kind::Applied);
  Report expected = report;
  expected.status = ReportStatus::Queued;
  expected.updated_ms = 1'764'370'856'250;
  expect_same(outcome.report, expected);
  expect_same(*store_->get(report.report_id), expected);
}

TEST_F(DynamoDbStoreLive, TransitionFromAStaleStatusIsAConflictWithTheReportAsItIs) {
  const Report report = make_report(core::random_uuid(), 1'764'370'855'000);
  store_->create(report);
  ASSERT_EQ(store_
                ->transition(report.user_id, report.report_id, ReportStatus::Pending,
                             ReportStatus::Canceled, 1'764'370'856'000)
                .kind,
            Kind::Applied);
  // A second client still believes the report is pending.
  const TransitionOutcome outcome =
      store_->transition(report.user_id, report.report_id, ReportStatus::Pending,
                         ReportStatus::Queued, 1'764'370'857'000);
  EXPECT_EQ(outcome.kind, Kind::Conflict);
  EXPECT_EQ(outcome.report.status, ReportStatus::Canceled);
  EXPECT_EQ(outcome.report.updated_ms, 1'764'370'856'000);
  EXPECT_EQ(store_->get(report.report_id)->status, ReportStatus::Canceled);
}

TEST_F(DynamoDbStoreLive, TransitionOfAMissingReportIsNotFoundAndCreatesNothing) {
  const std::string report_id = core::random_uuid();
  const TransitionOutcome outcome =
      store_->transition(core::random_uuid(), report_id, ReportStatus::Pending,
                         ReportStatus::Queued, 1'764'370'857'000);
  EXPECT_EQ(outcome.kind, Kind::NotFound);
  EXPECT_FALSE(store_->get(report_id).has_value());
}

TEST_F(DynamoDbStoreLive, TransitionOfAnotherUsersReportIsNotFoundAndChangesNothing) {
  const Report report = make_report(core::random_uuid(), 1'764'370'855'000);
  store_->create(report);
  const TransitionOutcome outcome =
      store_->transition(core::random_uuid(), report.report_id, ReportStatus::Pending,
                         ReportStatus::Queued, 1'764'370'857'000);
  EXPECT_EQ(outcome.kind, Kind::NotFound);
  expect_same(*store_->get(report.report_id), report);
}

TEST_F(DynamoDbStoreLive, EventPendingLastsUntilTheLatestChangeIsPublished) {
  const std::string user = core::random_uuid();
  std::vector<Report> created;
  for (int i = 0; i < 5; ++i) {
    created.push_back(make_report(user, 1'764'370'000'000 + i));
    store_->create(created.back());
  }
  // Two items a page: found across the whole table only if the scan follows every page.
  const json first_page =
      admin_->call("Scan", {{"TableName", options_.table}, {"Limit", options_.query_page_limit}},
                   Clock::now() + 5s);
  ASSERT_TRUE(first_page.contains("LastEvaluatedKey")) << first_page.dump();
  std::vector<Report> pending = store_->list_event_pending();
  for (const Report& report : created) EXPECT_TRUE(contains_id(pending, report.report_id));

  for (const Report& report : created)
    store_->mark_event_published(report.report_id, report.updated_ms);
  pending = store_->list_event_pending();
  for (const Report& report : created) EXPECT_FALSE(contains_id(pending, report.report_id));

  // A change marks the report again; publishing the older event leaves the mark in place.
  const Report& changed = created[2];
  ASSERT_EQ(store_
                ->transition(user, changed.report_id, ReportStatus::Pending, ReportStatus::Queued,
                             changed.updated_ms + 500)
                .kind,
            Kind::Applied);
  store_->mark_event_published(changed.report_id, changed.updated_ms);
  pending = store_->list_event_pending();
  ASSERT_TRUE(contains_id(pending, changed.report_id));
  const auto listed = std::find_if(pending.begin(), pending.end(), [&](const Report& r) {
    return r.report_id == changed.report_id;
  });
  EXPECT_EQ(listed->status, ReportStatus::Queued);

  store_->mark_event_published(changed.report_id, changed.updated_ms + 500);
  EXPECT_FALSE(contains_id(store_->list_event_pending(), changed.report_id));

  // Publishing for a report that is gone is not an error either.
  EXPECT_NO_THROW(store_->mark_event_published(core::random_uuid(), 1));
}

}  // namespace
}  // namespace ssehub::store
