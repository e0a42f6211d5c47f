#include "store/dynamodb/dynamodb_client.hpp"


#include <boost/crc.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
#include <random>
#include <thread>

namespace ssehub::store::dynamodb {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTargetPrefix = "DynamoDB_20120810.";

// DynamoDB's names for "slow down"; the same call succeeds once the load drops.
constexpr std::array<std::string_view, 4> kThrottlingErrors = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "LimitExceededException"};

struct ErrorAnswer {
  std::string type;
  std::string message;
};

// Error answers carry {"__type": "com.amazonaws.dynamodb.v20120810#Type", "message": ...}
// (some use "Message"); the short type is what callers branch on.
ErrorAnswer parse_error_answer(const HttpResponse& response) {
  ErrorAnswer error;
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    if (auto type = body.find("__type"); type != body.end() && type->is_string())
      error.type = type->get<std::string>();
    for (const char* key : {"message", "Message"})
      if (auto message = body.find(key); message != body.end() && message->is_string())
        error.message = message->get<std::string>();
  }
  if (error.type.empty()) error.type = std::string(response.header("x-amzn-errortype"));
  if (const auto hash = error.type.rfind('#'); hash != std::string::npos)
    error.type.erase(0, hash + 1);
  if (const auto colon = error.type.find(':'); colon != std::string::npos) error.type.erase(colon);
  if (error.type.empty()) error.type = "HTTP " + std::to_string(response.status);
  return error;
}

bool is_retryable(unsigned status, const std::string& type) {
  return status >= 500 || std::find(kThrottlingErrors.begin(), kThrottlingErrors.end(), type) !=
                              kThrottlingErrors.end();
}

// DynamoDB sends the CRC32 of every body; a mismatch means it was damaged on the way (SDKs
// retry those too).
bool body_matches_checksum(const HttpResponse& response) {
  const std::string_view expected = response.header("x-amz-crc32");
  if (expected.empty()) return true;
  boost::crc_32_type crc;
  crc.process_bytes(response.body.data(), response.body.size());
  return std::to_string(crc.checksum()) == expected;
}

// Exponential backoff with "equal jitter": half the step is fixed so the delay still grows,
// half is random so clients throttled together do not retry together.
std::chrono::milliseconds backoff(const RetryPolicy& retry, int failed_attempts) {
  const auto step =
      std::min(retry.first_backoff * (1 << std::min(failed_attempts - 1, 20)), retry.max_backoff);
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<long long> jitter(0, step.count() / 2);
  return std::chrono::milliseconds(step.count() - step.count() / 2 + jitter(random));
}

}  // namespace

DynamoDbClient::DynamoDbClient(const std::string& endpoint_url, std::string region,
                               AwsCredentials credentials, RetryPolicy retry)
    : http_(HttpEndpoint::parse(endpoint_url)),
      region_(std::move(region)),
      credentials_(std::move(credentials)),
      retry_(retry) {}

HttpRequest DynamoDbClient::signed_request(std::string_view operation, std::string body) const {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = {{"Host", http_.endpoint().host_header()},
                     {"Content-Type", "application/x-amz-json-1.0"},
                     {"X-Amz-Target", std::string(kTargetPrefix) + std::string(operation)}};
  const SigV4Signature signature =
      sign_v4({request.method, request.target, {}, request.headers, body}, credentials_,
              {region_, "dynamodb"}, std::chrono::system_clock::now());
  for (const auto& header : signature.added_headers) request.headers.push_back(header);
  request.headers.emplace_back("Authorization", signature.authorization);
  request.body = std::move(body);
  return request;
}

json DynamoDbClient::call(std::string_view operation, const json& request,
                          Clock::time_point deadline) {
  const std::string body = request.dump();
  const std::string where = "DynamoDB at " + http_.endpoint().url;
  bool may_have_applied = false;
  std::string failure;
  int attempt = 1;
  for (;; ++attempt) {
    try {
      // Signed afresh each attempt: the signature covers the time.
      HttpResponse response = http_.send(signed_request(operation, body), deadline);
      if (response.status == 200) {
        if (body_matches_checksum(response)) {
          json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
          if (answer.is_discarded())
            throw StoreUnavailable(where + " answered " + std::string(operation) +
                                   " with something that is not JSON");
          return answer;
        }
        may_have_applied = true;
        failure = where + " sent a damaged " + std::string(operation) + " answer (CRC32 mismatch)";
      } else {
        const ErrorAnswer error = parse_error_answer(response);
        failure = where + ": " + std::string(operation) + " failed: " + error.type +
                  (error.message.empty() ? "" : ": " + error.message);
        if (!is_retryable(response.status, error.type))
          throw DynamoDbError(error.type, response.status, failure, may_have_applied);
        // A 5xx leaves it open whether the write happened; throttling means it did not.
        if (response.status >= 500) may_have_applied = true;
      }
    } catch (const HttpError& e) {
      may_have_applied = may_have_applied || e.request_sent();
      failure = where + " unreachable: " + e.what();
      if (e.kind() == HttpError::Kind::Certificate) break;
    }

    if (attempt >= retry_.max_attempts) break;
    const auto delay = backoff(retry_, attempt);
    if (Clock::now() + delay >= deadline) break;
    spdlog::debug("dynamodb: {} attempt {}/{} failed ({}); retrying in {} ms", operation, attempt,
                  retry_.max_attempts, failure, delay.count());
    std::this_thread::sleep_for(delay);
  }
  throw StoreUnavailable(failure + " (" + std::string(operation) + ", " + std::to_string(attempt) +
                         (attempt == 1 ? " attempt)" : " attempts)"));
}

}  // namespace ssehub::store::dynamodb
