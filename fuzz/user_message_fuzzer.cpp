// bus::parse_user_message, the v3 Kafka record `username:message`: never reads outside the
// record, every record it accepts splits back into exactly what came in, and its user is
// one a stream could be opened for (StreamApi::username_of accepts the same name).
#include "api/stream_api.hpp"
#include "bus/record_parser.hpp"
#include "core/text.hpp"
#include "fuzz_check.hpp"
#include "history/memory/memory_event_log.hpp"
#include "sse/encoder.hpp"
#include "support/whatwg_sse_parser.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <string>
#include <variant>

namespace {

using namespace ssehub;

// Just enough of a server for StreamApi::username_of.
struct Server {
  config::Config config;
  metrics::Registry metrics;
  hub::Hub hub{{}, hub::HubLimits{}, metrics};
  history::History history{
      std::make_unique<history::MemoryEventLog>(history::MemoryEventLogOptions{}, metrics),
      history::HistoryOptions{}, metrics};  // never started
  bus::LocalBus bus{history};
  auth::AccessPolicy access{auth::AccessSettings{}};
  api::StreamApi streams{config, hub, history, bus, access, metrics};
};

Server& server() {
  static Server* instance = new Server;  // leaked on purpose: outlives every input
  return *instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider input(bytes, size);
  // Mostly the production limits (64 KiB, 256); sometimes small ones, to reach the edges.
  const bool small_limits = input.ConsumeBool();
  const std::size_t max_bytes = small_limits ? input.ConsumeIntegralInRange<std::size_t>(0, 64) : 64 * 1024;
  const std::size_t max_username =
      small_limits ? input.ConsumeIntegralInRange<std::size_t>(0, 16) : server().config.max_username_bytes;
  const std::size_t max_event =
      small_limits ? input.ConsumeIntegralInRange<std::size_t>(0, 256) : server().config.max_event_bytes;
  // A copy of exactly the record's bytes, so ASan sees any read past its end.
  const std::string record = input.ConsumeRemainingBytesAsString();

  const auto parsed = bus::parse_user_message(record, max_bytes, max_username, max_event);
  const std::size_t colon = record.find(':');
  if (const auto* message = std::get_if<bus::UserMessage>(&parsed)) {
    FUZZ_CHECK(record.size() <= max_bytes);
    FUZZ_CHECK(!message->username.empty() && message->username.size() <= max_username);
    FUZZ_CHECK(message->username.find(':') == std::string_view::npos);
    FUZZ_CHECK(!core::has_control_characters(message->username));
    FUZZ_CHECK(!message->message.empty());
    FUZZ_CHECK(sse::encoded_event_size("", message->message) <= max_event);
    FUZZ_CHECK(std::string(message->username) + ":" + std::string(message->message) == record);
    // Strict UTF-8, judged by the WHATWG decoder: decoding changes nothing.
    FUZZ_CHECK(test_support::utf8_decode(record) == record);
    if (!small_limits) {
      const http::Target target{.path = "/v3/sse", .query = {{"username", std::string(message->username)}}};
      const auto name = server().streams.username_of(target);
      FUZZ_CHECK(std::holds_alternative<std::string>(name) && std::get<std::string>(name) == message->username);
    }
    return 0;
  }
  switch (std::get<bus::SkipReason>(parsed)) {
    case bus::SkipReason::NoColon: FUZZ_CHECK(colon == std::string::npos); break;
    case bus::SkipReason::EmptyUsername: FUZZ_CHECK(colon == 0); break;
    case bus::SkipReason::TooLarge:
      FUZZ_CHECK(record.size() > max_bytes || (colon != std::string::npos && colon > max_username) ||
                 (colon != std::string::npos &&
                  sse::encoded_event_size("", std::string_view(record).substr(colon + 1)) > max_event));
      break;
    case bus::SkipReason::InvalidUtf8: FUZZ_CHECK(test_support::utf8_decode(record) != record); break;
    case bus::SkipReason::InvalidUsername:
      FUZZ_CHECK(core::has_control_characters(std::string_view(record).substr(0, colon)));
      break;
    case bus::SkipReason::EmptyMessage: FUZZ_CHECK(colon + 1 == record.size()); break;
    default: FUZZ_CHECK(false && "a reason parse_user_message does not give");
  }
  return 0;
}
