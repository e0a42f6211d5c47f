#pragma once

#include "config/config.hpp"
#include "store/store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ssehub::store {

namespace dynamodb {
class DynamoDbClient;
}

struct DynamoDbOptions {
  std::string endpoint;  // http(s)://host[:port]
  std::string region;
  std::string table = "report_status";
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  // Per DynamoDB call, retries included; a listing's pages get it each.
  std::chrono::milliseconds timeout{5000};
  // Items per Query/Scan page; 0 leaves paging to DynamoDB (1 MB pages). Tests set it low to
  // exercise pagination without writing megabytes.
  int query_page_limit = 0;
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{50};

  using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
  static std::optional<std::string> process_environment(const std::string& name);

  // endpoint: config.dynamodb_endpoint, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, else
  // https://dynamodb.<region>.amazonaws.com. region: config.dynamodb_region, AWS_REGION,
  // AWS_DEFAULT_REGION, else us-east-1. Keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  // AWS_SESSION_TOKEN; a loopback endpoint (DynamoDB Local, dynalite) gets dummy keys when
  // they are unset. Throws ConfigError when keys are missing for any other endpoint or the
  // endpoint is malformed.
  static DynamoDbOptions from_environment(const config::Config& config,
                                          const EnvLookup& env = process_environment);
};

// Reports in a DynamoDB table through its JSON API, signed with SigV4.
// Table: hash key report_id (S); user_id, status, created_at, updated_at (S, RFC 3339);
// event_pending (BOOL) while the latest change awaits publishing; GSI UserIdIndex on user_id
// (projection ALL). Every write is one conditional item write.
class DynamoDbStore final : public Store {
 public:
  // Throws ConfigError for a malformed endpoint. Does no I/O: ping() tells whether it answers.
  explicit DynamoDbStore(DynamoDbOptions options);
  ~DynamoDbStore() override;

  void create(const Report& report) override;
  std::vector<Report> list_by_user(const std::string& user_id) override;
  std::optional<Report> get(const std::string& report_id) override;
  TransitionOutcome transition(const std::string& user_id, const std::string& report_id,
                               ReportStatus from, ReportStatus to,
                               std::int64_t updated_ms) override;
  void mark_event_published(const std::string& report_id, std::int64_t updated_ms) override;
  std::vector<Report> list_event_pending() override;
  bool ping() override;

 private:
  std::optional<Report> read_item(const std::string& report_id, std::chrono::milliseconds timeout);
  // After a call failed without a definite answer: the stored report if `is_ours` says it is
  // our write; nullopt if it was not applied; throws if the store still cannot be read.
  std::optional<Report> find_own_write(const std::string& report_id, const std::string& failure,
                                       const std::function<bool(const Report&)>& is_ours);
  nlohmann::json call(std::string_view operation, const nlohmann::json& request,
                      std::chrono::milliseconds timeout);
  // Runs a Query or Scan to its last page.
  std::vector<Report> read_all_pages(std::string_view operation, nlohmann::json request);

  DynamoDbOptions options_;
  std::unique_ptr<dynamodb::DynamoDbClient> client_;
};

}  // namespace ssehub::store
