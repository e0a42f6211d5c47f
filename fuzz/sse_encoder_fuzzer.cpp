// sse::encode_event, read back by a WHATWG event-stream parser written for the tests: what a
// browser receives must be what was published, with CR and CRLF turned into LF. Several
// events are encoded into one stream and fed to the parser in chunks the input chooses.
#include "fuzz_check.hpp"
#include "sse/encoder.hpp"
#include "support/whatwg_sse_parser.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using ssehub::test_support::utf8_decode;
using ssehub::test_support::WhatwgSseParser;

std::string normalise_line_breaks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

struct Published {
  std::string type;
  std::optional<std::uint64_t> id;
  std::string data;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider input(bytes, size);
  const int count = input.ConsumeIntegralInRange(1, 4);
  std::vector<Published> published;
  std::string stream;
  for (int i = 0; i < count && (i == 0 || input.remaining_bytes() > 0); ++i) {
    Published event;
    // The type is the caller's: free of CR, LF and NUL by contract (encoder.hpp).
    for (char c : input.ConsumeRandomLengthString(32))
      if (c != '\r' && c != '\n' && c != '\0') event.type += c;
    if (input.ConsumeBool()) event.id = input.ConsumeIntegral<std::uint64_t>();
    event.data = input.ConsumeRandomLengthString();
    stream += ssehub::sse::encode_event(event.type, event.id, event.data);
    if (input.ConsumeBool()) stream += ssehub::sse::encode_comment_line("keep-alive");
    published.push_back(std::move(event));
  }

  WhatwgSseParser parser;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t chunk =
        input.remaining_bytes() > 0 ? input.ConsumeIntegralInRange<std::size_t>(1, 64) : stream.size();
    parser.feed(std::string_view(stream).substr(at, chunk));
    at += chunk;
  }
  parser.finish();

  const auto& events = parser.events();
  FUZZ_CHECK(events.size() == published.size());
  std::string last_id;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Published& sent = published[i];
    // Bytes that are not UTF-8 reach a browser as U+FFFD; CR and LF never start or end such
    // a sequence, so decoding and normalising commute.
    FUZZ_CHECK(events[i].data == utf8_decode(normalise_line_breaks(sent.data)));
    FUZZ_CHECK(events[i].type == (sent.type.empty() ? "message" : utf8_decode(sent.type)));
    if (sent.id) last_id = std::to_string(*sent.id);
    FUZZ_CHECK(events[i].last_event_id == last_id);
  }
  return 0;
}
