#pragma once

#include "store/dynamodb/http_client.hpp"
#include "store/dynamodb/sigv4.hpp"
#include "store/store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace ssehub::store::dynamodb {

// DynamoDB answered a call with an error it would give again (a failed condition, a validation
// error, a missing table, ...). It is a StoreUnavailable, so whatever the store does not handle
// reaches callers as "store failed".
class DynamoDbError : public StoreUnavailable {
 public:
  DynamoDbError(std::string type, unsigned http_status, const std::string& message,
                bool earlier_attempt_may_have_applied)
      : StoreUnavailable(message),
        type_(std::move(type)),
        http_status_(http_status),
        earlier_attempt_may_have_applied_(earlier_attempt_may_have_applied) {}

  // The short error type, e.g. "ConditionalCheckFailedException".
  const std::string& type() const { return type_; }
  unsigned http_status() const { return http_status_; }
  // An earlier attempt of the same call got no answer after it was sent (or a 5xx), so it may
  // have been applied: a failed condition now may be that attempt's own write.
  bool earlier_attempt_may_have_applied() const { return earlier_attempt_may_have_applied_; }

 private:
  std::string type_;
  unsigned http_status_;
  bool earlier_attempt_may_have_applied_;
};

struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{50};  // doubled after each failed attempt, jittered
  std::chrono::milliseconds max_backoff{1000};
};

// Calls of DynamoDB's JSON API (protocol x-amz-json-1.0, SigV4 service `dynamodb`) with
// retries. Blocking and thread-safe: for store threads only.
class DynamoDbClient {
 public:
  // Throws std::invalid_argument for a malformed endpoint URL.
  DynamoDbClient(const std::string& endpoint_url, std::string region, AwsCredentials credentials,
                 RetryPolicy retry = {});

  // Calls `operation` (e.g. "PutItem") and returns DynamoDB's JSON answer. Throttling, 5xx
  // answers and connection failures (bar a rejected certificate) are retried with exponential
  // backoff and jitter while attempts and time before `deadline` remain; then
  // StoreUnavailable. Any other error answer throws DynamoDbError at once.
  nlohmann::json call(std::string_view operation, const nlohmann::json& request,
                      std::chrono::steady_clock::time_point deadline);

  const HttpEndpoint& endpoint() const { return http_.endpoint(); }

 private:
  HttpRequest signed_request(std::string_view operation, std::string body) const;

  HttpClient http_;
  std::string region_;
  AwsCredentials credentials_;
  RetryPolicy retry_;
};

}  // namespace ssehub::store::dynamodb
