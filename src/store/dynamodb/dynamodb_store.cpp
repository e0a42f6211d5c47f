#include "store/dynamodb/dynamodb_store.hpp"

#include "store/dynamodb/dynamodb_client.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <tuple>

namespace ssehub::store {

namespace {

// How long to look for a write whose answer was lost, after the call itself timed out.
constexpr std::chrono::milliseconds kVerifyTimeout{2000};


using json = nlohmann::json;
using dynamodb::DynamoDbError;

constexpr const char* kUserIndex = "UserIdIndex";
constexpr const char* kConditionFailed = "ConditionalCheckFailedException";
// Readiness needs an answer, not patience: /readyz should not hang for the full store timeout.
constexpr std::chrono::milliseconds kPingTimeout{2000};
// A key no report has (reports are UUIDs), read by ping().
constexpr const char* kProbeKey = "ssehub-readiness-probe";

json string_value(std::string_view value) {
  return json::object({{"S", value}});
}

json key_of(const std::string& report_id) {
  return json::object({{"report_id", string_value(report_id)}});
}

json item_of(const Report& report) {
  return json::object({{"report_id", string_value(report.report_id)},
                       {"user_id", string_value(report.user_id)},
                       {"status", string_value(domain::to_string(report.status))},
                       {"created_at", string_value(domain::format_rfc3339(report.created_ms))},
                       {"updated_at", string_value(domain::format_rfc3339(report.updated_ms))},
                       {"event_pending", json::object({{"BOOL", true}})}});
}

std::string string_attribute(const json& item, const char* name) {
  const auto attribute = item.find(name);
  if (attribute != item.end() && attribute->is_object()) {
    const auto value = attribute->find("S");
    if (value != attribute->end() && value->is_string()) return value->get<std::string>();
  }
  throw StoreUnavailable(std::string("DynamoDB item without string attribute `") + name +
                         "`: " + item.dump());
}

std::int64_t time_attribute(const json& item, const char* name) {
  const std::string text = string_attribute(item, name);
  if (const auto ms = domain::parse_rfc3339(text)) return *ms;
  throw StoreUnavailable(std::string("DynamoDB item with a malformed `") + name + "` (" + text +
                         "): " + item.dump());
}

// Items are written only by this store, so anything unreadable means the table is not ours
// or was edited by hand: the store is unusable rather than the item silently skipped.
Report report_of(const json& item) {
  Report report;
  report.report_id = string_attribute(item, "report_id");
  report.user_id = string_attribute(item, "user_id");
  const std::string status = string_attribute(item, "status");
  const auto parsed = domain::parse_status(status);
  if (!parsed)
    throw StoreUnavailable("DynamoDB item " + report.report_id + " has an unknown status `" +
                           status + "`");
  report.status = *parsed;
  report.created_ms = time_attribute(item, "created_at");
  report.updated_ms = time_attribute(item, "updated_at");
  return report;
}

bool is_condition_failure(const DynamoDbError& error) {
  return error.type() == kConditionFailed;
}

std::string env_or_empty(const DynamoDbOptions::EnvLookup& env, const std::string& name) {
  return env(name).value_or("");
}

}  // namespace

std::optional<std::string> DynamoDbOptions::process_environment(const std::string& name) {
  if (const char* value = std::getenv(name.c_str())) return std::string(value);
  return std::nullopt;
}

DynamoDbOptions DynamoDbOptions::from_environment(const config::Config& config, const EnvLookup& env) {
  const auto first_set = [](std::initializer_list<std::string> candidates) {
    for (const auto& candidate : candidates)
      if (!candidate.empty()) return candidate;
    return std::string();
  };

  DynamoDbOptions options;
  options.region = first_set({config.dynamodb_region, env_or_empty(env, "AWS_REGION"),
                              env_or_empty(env, "AWS_DEFAULT_REGION"), "us-east-1"});
  options.endpoint =
      first_set({config.dynamodb_endpoint, env_or_empty(env, "AWS_ENDPOINT_URL_DYNAMODB"),
                 env_or_empty(env, "AWS_ENDPOINT_URL"),
                 "https://dynamodb." + options.region + ".amazonaws.com"});
  options.table = config.dynamodb_table;
  options.timeout = config.store_timeout;
  options.access_key_id = env_or_empty(env, "AWS_ACCESS_KEY_ID");
  options.secret_access_key = env_or_empty(env, "AWS_SECRET_ACCESS_KEY");
  options.session_token = env_or_empty(env, "AWS_SESSION_TOKEN");

  dynamodb::HttpEndpoint endpoint;
  try {
    endpoint = dynamodb::HttpEndpoint::parse(options.endpoint);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("DynamoDB ") + e.what());
  }
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    if (!endpoint.is_loopback())
      throw config::ConfigError("DynamoDB at " + options.endpoint +
                        " needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                        "(and AWS_SESSION_TOKEN for temporary ones)");
    // Local emulators accept any signature but still want one.
    options.access_key_id = "local";
    options.secret_access_key = "local";
    options.session_token.clear();
  }
  return options;
}

DynamoDbStore::DynamoDbStore(DynamoDbOptions options) : options_(std::move(options)) {
  try {
    client_ = std::make_unique<dynamodb::DynamoDbClient>(
        options_.endpoint, options_.region,
        dynamodb::AwsCredentials{options_.access_key_id, options_.secret_access_key,
                                 options_.session_token},
        dynamodb::RetryPolicy{options_.max_attempts, options_.first_backoff,
                              std::max(options_.first_backoff, std::chrono::milliseconds(1000))});
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("DynamoDB ") + e.what());
  }
}

DynamoDbStore::~DynamoDbStore() = default;

json DynamoDbStore::call(std::string_view operation, const json& request,
                         std::chrono::milliseconds timeout) {
  return client_->call(operation, request, std::chrono::steady_clock::now() + timeout);
}

void DynamoDbStore::create(const Report& report) {
  const json request = {{"TableName", options_.table},
                        {"Item", item_of(report)},
                        {"ConditionExpression", "attribute_not_exists(report_id)"}};
  try {
    call("PutItem", request, options_.timeout);
  } catch (const DynamoDbError& e) {
    if (!is_condition_failure(e)) throw;
    // A retry after an attempt whose answer was lost finds that attempt's own item.
    if (e.earlier_attempt_may_have_applied()) {
      const auto stored = get(report.report_id);
      if (stored && stored->user_id == report.user_id && stored->created_ms == report.created_ms)
        return;
    }
    throw StoreUnavailable("DynamoDB already holds a report " + report.report_id);
  } catch (const StoreUnavailable& e) {
    // No answer in time: the write may still have been applied. Look before saying 503, so
    // a 503 means "not stored".
    if (find_own_write(report.report_id, e.what(), [&](const Report& stored) {
          return stored.user_id == report.user_id && stored.created_ms == report.created_ms;
        }))
      return;
    throw;
  }
}

std::optional<Report> DynamoDbStore::find_own_write(const std::string& report_id,
                                                    const std::string& failure,
                                                    const std::function<bool(const Report&)>& is_ours) {
  std::optional<Report> stored;
  try {
    stored = read_item(report_id, kVerifyTimeout);
  } catch (const StoreUnavailable&) {
    throw StoreUnavailable(failure + "; whether the write was applied is unknown");
  }
  if (stored && is_ours(*stored)) return stored;
  return std::nullopt;
}

std::vector<Report> DynamoDbStore::read_all_pages(std::string_view operation, json request) {
  if (options_.query_page_limit > 0) request["Limit"] = options_.query_page_limit;
  std::vector<Report> reports;
  for (;;) {
    json page = call(operation, request, options_.timeout);
    if (auto items = page.find("Items"); items != page.end() && items->is_array())
      for (const json& item : *items) reports.push_back(report_of(item));
    auto last_key = page.find("LastEvaluatedKey");
    if (last_key == page.end() || last_key->empty()) break;
    request["ExclusiveStartKey"] = std::move(*last_key);
  }
  return reports;
}

std::vector<Report> DynamoDbStore::list_by_user(const std::string& user_id) {
  // Global secondary indexes are eventually consistent (no ConsistentRead): a report created
  // a moment ago may be missing from the list for a moment.
  std::vector<Report> reports =
      read_all_pages("Query", {{"TableName", options_.table},
                               {"IndexName", kUserIndex},
                               {"KeyConditionExpression", "user_id = :user"},
                               {"ExpressionAttributeValues", {{":user", string_value(user_id)}}}});
  // The index has no sort key, so DynamoDB returns them in no useful order.
  std::sort(reports.begin(), reports.end(), [](const Report& a, const Report& b) {
    return std::tie(a.created_ms, a.report_id) < std::tie(b.created_ms, b.report_id);
  });
  return reports;
}

std::optional<Report> DynamoDbStore::get(const std::string& report_id) {
  return read_item(report_id, options_.timeout);
}

std::optional<Report> DynamoDbStore::read_item(const std::string& report_id,
                                               std::chrono::milliseconds timeout) {
  const json answer =
      call("GetItem",
           {{"TableName", options_.table}, {"Key", key_of(report_id)}, {"ConsistentRead", true}},
           timeout);
  const auto item = answer.find("Item");
  if (item == answer.end() || !item->is_object() || item->empty()) return std::nullopt;
  return report_of(*item);
}

TransitionOutcome DynamoDbStore::transition(const std::string& user_id,
                                            const std::string& report_id, ReportStatus from,
                                            ReportStatus to, std::int64_t updated_ms) {
  const json request = {
      {"TableName", options_.table},
      {"Key", key_of(report_id)},
      // `status` is a DynamoDB reserved word, hence the #status placeholder.
      {"UpdateExpression", "SET #status = :to, updated_at = :at, event_pending = :true"},
      {"ConditionExpression", "#status = :from AND user_id = :user"},
      {"ExpressionAttributeNames", {{"#status", "status"}}},
      {"ExpressionAttributeValues",
       {{":to", string_value(domain::to_string(to))},
        {":at", string_value(domain::format_rfc3339(updated_ms))},
        {":true", json::object({{"BOOL", true}})},
        {":from", string_value(domain::to_string(from))},
        {":user", string_value(user_id)}}},
      {"ReturnValues", "ALL_NEW"}};
  try {
    const json answer = call("UpdateItem", request, options_.timeout);
    return {TransitionOutcome::Kind::Applied, report_of(answer.at("Attributes"))};
  } catch (const DynamoDbError& e) {
    if (!is_condition_failure(e)) throw;
    // The condition failed (never retried: the answer is final). Say why, from the item as it
    // is now; a report of another user is reported as missing, not as someone else's.
    const auto current = get(report_id);
    if (!current || current->user_id != user_id) return {TransitionOutcome::Kind::NotFound, {}};
    if (e.earlier_attempt_may_have_applied() && current->status == to &&
        current->updated_ms == updated_ms)
      return {TransitionOutcome::Kind::Applied, *current};
    return {TransitionOutcome::Kind::Conflict, *current};
  } catch (const StoreUnavailable& e) {
    // No answer in time: the change may still have been applied. Look before saying 503.
    if (auto stored = find_own_write(report_id, e.what(), [&](const Report& current) {
          return current.user_id == user_id && current.status == to &&
                 current.updated_ms == updated_ms;
        }))
      return {TransitionOutcome::Kind::Applied, *stored};
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw StoreUnavailable(std::string("DynamoDB UpdateItem answer without Attributes: ") +
                           e.what());
  }
}

void DynamoDbStore::mark_event_published(const std::string& report_id, std::int64_t updated_ms) {
  try {
    call("UpdateItem",
         {{"TableName", options_.table},
          {"Key", key_of(report_id)},
          {"UpdateExpression", "REMOVE event_pending"},
          {"ConditionExpression", "updated_at = :at"},
          {"ExpressionAttributeValues",
           {{":at", string_value(domain::format_rfc3339(updated_ms))}}}},
         options_.timeout);
  } catch (const DynamoDbError& e) {
    // The report changed again since (its newer event is pending and clears the flag itself),
    // or it is gone: either way nothing is left to mark.
    if (!is_condition_failure(e)) throw;
  }
}

std::vector<Report> DynamoDbStore::list_event_pending() {
  // A Scan reads the whole table (a filter does not reduce what is read). It runs once, at
  // start-up recovery, which is why a sparse index was not worth its write cost.
  return read_all_pages("Scan", {{"TableName", options_.table},
                                 {"FilterExpression", "attribute_exists(event_pending)"},
                                 {"ConsistentRead", true}});
}

bool DynamoDbStore::ping() {
  // A GetItem of a key no report has rather than DescribeTable: it needs no permission beyond
  // what the store uses anyway, and it fails the same way when the table is missing.
  try {
    call("GetItem", {{"TableName", options_.table}, {"Key", key_of(kProbeKey)}},
         std::min(options_.timeout, kPingTimeout));
    return true;
  } catch (const std::exception& e) {
    spdlog::debug("dynamodb: ping failed: {}", e.what());
    return false;
  }
}

}  // namespace ssehub::store
