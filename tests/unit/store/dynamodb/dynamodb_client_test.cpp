#include "scripted_http_server.hpp"
#include "store/dynamodb/dynamodb_client.hpp"

#include <boost/crc.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace ssehub::store::dynamodb {
namespace {

using namespace std::chrono_literals;
using testing_support::ScriptedHttpServer;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

const AwsCredentials kKeys{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

ScriptedHttpServer::Reply error_reply(unsigned status, const std::string& type) {
  return ScriptedHttpServer::reply(
      status,
      json{{"__type", "com.amazonaws.dynamodb.v20120810#" + type}, {"message", "m"}}.dump());
}

const ScriptedHttpServer::Reply kThrottled =
    error_reply(400, "ProvisionedThroughputExceededException");

DynamoDbClient client_for(const ScriptedHttpServer& server,
                          RetryPolicy retry = {5, std::chrono::milliseconds(1), 4ms}) {
  return DynamoDbClient(server.url(), "us-east-1", kKeys, retry);
}

const json kGetItem = {{"TableName", "t"}, {"Key", {{"report_id", {{"S", "r"}}}}}};

TEST(DynamoDbClient, SendsSignedJsonCallsNamingTheOperation) {
  ScriptedHttpServer server{ScriptedHttpServer::reply(200, R"({"Item":{}})")};
  auto client = client_for(server);
  EXPECT_EQ(client.call("GetItem", kGetItem, Clock::now() + 2s), json::parse(R"({"Item":{}})"));
  const auto seen = server.requests().at(0);
  EXPECT_EQ(seen.target_header, "DynamoDB_20120810.GetItem");
  EXPECT_EQ(json::parse(seen.body), kGetItem);
  EXPECT_TRUE(seen.authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
  EXPECT_NE(seen.authorization.find("/us-east-1/dynamodb/aws4_request, SignedHeaders="
                                    "content-type;host;x-amz-date;x-amz-target, Signature="),
            std::string::npos)
      << seen.authorization;
}

TEST(DynamoDbClient, RetriesThrottlingUntilItSucceeds) {
  ScriptedHttpServer server{kThrottled, error_reply(400, "ThrottlingException"),
                            ScriptedHttpServer::reply(200, "{}")};
  auto client = client_for(server);
  EXPECT_EQ(client.call("GetItem", kGetItem, Clock::now() + 2s), json::object());
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(DynamoDbClient, RetriesServerErrors) {
  ScriptedHttpServer server{error_reply(500, "InternalServerError"),
                            ScriptedHttpServer::reply(503, "not json"),
                            ScriptedHttpServer::reply(200, "{}")};
  auto client = client_for(server);
  EXPECT_EQ(client.call("GetItem", kGetItem, Clock::now() + 2s), json::object());
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(DynamoDbClient, DoesNotRetryValidationErrors) {
  ScriptedHttpServer server{error_reply(400, "ValidationException")};
  auto client = client_for(server);
  try {
    client.call("GetItem", kGetItem, Clock::now() + 2s);
    FAIL() << "expected DynamoDbError";
  } catch (const DynamoDbError& e) {
    EXPECT_EQ(e.type(), "ValidationException");
    EXPECT_EQ(e.http_status(), 400u);
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(DynamoDbClient, DoesNotRetryAFailedCondition) {
  ScriptedHttpServer server{error_reply(400, "ConditionalCheckFailedException")};
  auto client = client_for(server);
  try {
    client.call("UpdateItem", kGetItem, Clock::now() + 2s);
    FAIL() << "expected DynamoDbError";
  } catch (const DynamoDbError& e) {
    EXPECT_EQ(e.type(), "ConditionalCheckFailedException");
    EXPECT_FALSE(e.earlier_attempt_may_have_applied());
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(DynamoDbClient, AFailedConditionAfterAServerErrorMayBeTheCallsOwnWrite) {
  ScriptedHttpServer server{error_reply(500, "InternalServerError"),
                            error_reply(400, "ConditionalCheckFailedException")};
  auto client = client_for(server);
  try {
    client.call("PutItem", kGetItem, Clock::now() + 2s);
    FAIL() << "expected DynamoDbError";
  } catch (const DynamoDbError& e) {
    EXPECT_TRUE(e.earlier_attempt_may_have_applied());
  }
}

TEST(DynamoDbClient, ThrottlingLeavesNoDoubtThatTheWriteDidNotHappen) {
  ScriptedHttpServer server{kThrottled, error_reply(400, "ConditionalCheckFailedException")};
  auto client = client_for(server);
  try {
    client.call("PutItem", kGetItem, Clock::now() + 2s);
    FAIL() << "expected DynamoDbError";
  } catch (const DynamoDbError& e) {
    EXPECT_FALSE(e.earlier_attempt_may_have_applied());
  }
}

TEST(DynamoDbClient, GivesUpAfterTheLastAttempt) {
  ScriptedHttpServer server{kThrottled};
  auto client = client_for(server);
  try {
    client.call("GetItem", kGetItem, Clock::now() + 5s);
    FAIL() << "expected StoreUnavailable";
  } catch (const DynamoDbError&) {
    FAIL() << "throttling is not a final answer";
  } catch (const StoreUnavailable& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "DynamoDB at " + server.url() +
            ": GetItem failed: ProvisionedThroughputExceededException: m (GetItem, 5 attempts)");
  }
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST(DynamoDbClient, StopsRetryingAtTheDeadline) {
  ScriptedHttpServer server{error_reply(500, "InternalServerError")};
  auto client = client_for(server, {100, 40ms, 1000ms});
  const auto start = Clock::now();
  EXPECT_THROW(client.call("GetItem", kGetItem, start + 300ms), StoreUnavailable);
  EXPECT_LT(Clock::now() - start, 300ms);
  EXPECT_LT(server.requests().size(), 10u);
}

TEST(DynamoDbClient, SilentServerFailsAtTheDeadline) {
  ScriptedHttpServer server{ScriptedHttpServer::silence()};
  auto client = client_for(server);
  const auto start = Clock::now();
  try {
    client.call("GetItem", kGetItem, start + 300ms);
    FAIL() << "expected StoreUnavailable";
  } catch (const StoreUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("timed out waiting for the response"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(DynamoDbClient, RetriesAnAnswerDamagedOnTheWay) {
  const std::string body = R"({"Item":{"report_id":{"S":"r"}}})";
  boost::crc_32_type crc;
  crc.process_bytes(body.data(), body.size());
  ScriptedHttpServer server{
      ScriptedHttpServer::reply(200, body, {{"x-amz-crc32", std::to_string(crc.checksum() ^ 1)}}),
      ScriptedHttpServer::reply(200, body, {{"x-amz-crc32", std::to_string(crc.checksum())}})};
  auto client = client_for(server);
  EXPECT_EQ(client.call("GetItem", kGetItem, Clock::now() + 2s), json::parse(body));
  EXPECT_EQ(server.requests().size(), 2u);
}

}  // namespace
}  // namespace ssehub::store::dynamodb
