// reports::parse_status_change, the body of PUT /v4/report: any Content-Type and body give
// either a well-formed change or a JSON error answer, never a crash or an exception. The same
// bytes as a v4 Kafka record (ingest::parse_status_record) are accepted exactly when the HTTP
// body is, as the same change, and refused for the same broken rule of domain::
// parse_status_change: both doors lead to one validator and one state machine.
#include "core/ids.hpp"
#include "domain/validator.hpp"
#include "fuzz_check.hpp"
#include "ingest/record_parser.hpp"
#include "reports/report_api.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include <string>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  using namespace ssehub;
  FuzzedDataProvider input(bytes, size);
  // Mostly a JSON content type, so the body gets parsed; sometimes one the input writes.
  std::string content_type;
  const int content_type_kind = input.ConsumeIntegralInRange(0, 3);
  switch (content_type_kind) {
    case 0: content_type = "application/json"; break;
    case 1: content_type = "Application/JSON; charset=utf-8"; break;
    case 2: content_type = "application/json;"; break;
    default: content_type = input.ConsumeRandomLengthString(64); break;
  }
  const std::string body = input.ConsumeRemainingBytesAsString();

  const auto parsed = reports::parse_status_change(content_type, body);
  const auto record = ingest::parse_status_record(body, body.size());
  const auto* from_kafka = std::get_if<domain::StatusChange>(&record);
  if (const auto* change = std::get_if<domain::StatusChange>(&parsed)) {
    FUZZ_CHECK(core::canonical_uuid(change->report_id) == change->report_id);
    FUZZ_CHECK(domain::parse_status(domain::to_string(change->status)) == change->status);
    FUZZ_CHECK(from_kafka != nullptr && from_kafka->report_id == change->report_id &&
               from_kafka->status == change->status);
    return 0;
  }
  const auto& response = std::get<http::Response>(parsed);
  FUZZ_CHECK(response.result() == boost::beast::http::status::bad_request);
  // The answer is JSON with an `error` code, whatever bytes came in.
  const auto json = nlohmann::json::parse(response.body(), nullptr, false);
  FUZZ_CHECK(json.is_object() && json.contains("error") && json["error"].is_string());
  if (content_type_kind < 3) {
    // A JSON body refused: the validator names the rule, each door in its own words.
    const auto checked = domain::parse_status_change(body);
    const auto* error = std::get_if<domain::StatusChangeError>(&checked);
    FUZZ_CHECK(error != nullptr && from_kafka == nullptr);
    FUZZ_CHECK(response.body() == reports::refusal_for(*error).body());
    FUZZ_CHECK(std::get<ingest::SkipReason>(record) == ingest::skip_reason(error->fault));
  }
  return 0;
}
