// bus::parse_user_message, the v3 Kafka record `username:message`: never reads outside the
// record, and every record it accepts splits back into exactly what came in.
#include "bus/record_parser.hpp"
#include "fuzz_check.hpp"
#include "support/whatwg_sse_parser.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  using namespace ssehub;
  FuzzedDataProvider input(bytes, size);
  // Mostly the production limits (64 KiB, 256); sometimes small ones, to reach the edges.
  const bool small_limits = input.ConsumeBool();
  const std::size_t max_bytes = small_limits ? input.ConsumeIntegralInRange<std::size_t>(0, 64) : 64 * 1024;
  const std::size_t max_username = small_limits ? input.ConsumeIntegralInRange<std::size_t>(0, 16) : 256;
  // A copy of exactly the record's bytes, so ASan sees any read past its end.
  const std::string record = input.ConsumeRemainingBytesAsString();

  const auto parsed = bus::parse_user_message(record, max_bytes, max_username);
  const std::size_t colon = record.find(':');
  if (const auto* message = std::get_if<bus::UserMessage>(&parsed)) {
    FUZZ_CHECK(record.size() <= max_bytes);
    FUZZ_CHECK(!message->username.empty());
    FUZZ_CHECK(message->username.size() <= max_username);
    FUZZ_CHECK(message->username.find(':') == std::string_view::npos);
    FUZZ_CHECK(std::string(message->username) + ":" + std::string(message->message) == record);
    // Strict UTF-8, judged by the WHATWG decoder: decoding changes nothing.
    FUZZ_CHECK(test_support::utf8_decode(record) == record);
    return 0;
  }
  switch (std::get<SkipReason>(parsed)) {
    case SkipReason::NoColon: FUZZ_CHECK(colon == std::string::npos); break;
    case SkipReason::EmptyUsername: FUZZ_CHECK(colon == 0); break;
    case SkipReason::TooLarge:
      FUZZ_CHECK(record.size() > max_bytes || (colon != std::string::npos && colon > max_username));
      break;
    case SkipReason::InvalidUtf8: FUZZ_CHECK(test_support::utf8_decode(record) != record); break;
    default: FUZZ_CHECK(false && "a reason parse_user_message does not give");
  }
  return 0;
}
