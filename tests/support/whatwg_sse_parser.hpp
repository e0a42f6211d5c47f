#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssehub::test_support {

// One event as a browser's EventSource dispatches it.
struct SseEvent {
  std::string type;  // "message" unless the stream named another
  std::string data;
  std::string last_event_id;
};

// The WHATWG Encoding "UTF-8 decoder", fed a byte at a time: every ill-formed sequence
// becomes U+FFFD (maximal subparts replaced one at a time). Output is UTF-8.
class Utf8Decoder {
 public:
  void push(unsigned char byte, std::string& out);
  void finish(std::string& out);  // an incomplete sequence at the end is one U+FFFD

 private:
  std::uint32_t code_point_ = 0;
  int bytes_needed_ = 0;
  int bytes_seen_ = 0;
  unsigned char lower_ = 0x80;
  unsigned char upper_ = 0xBF;
};

// Decodes a whole byte string as above (without BOM handling).
std::string utf8_decode(std::string_view bytes);

// An event-stream parser written from the WHATWG HTML spec ("Interpreting an event stream",
// section 9.2.6), independent of ssehub's encoder, so tests can check what a browser would
// see. Bytes may arrive in any chunking; finish() marks the end of the stream, which drops
// an event not yet ended by a blank line.
class WhatwgSseParser {
 public:
  void feed(std::string_view bytes);
  void finish();

  const std::vector<SseEvent>& events() const { return events_; }
  const std::vector<std::string>& comments() const { return comments_; }
  // The last valid `retry` value, if any: the reconnection time in milliseconds.
  std::optional<std::uint64_t> retry() const { return retry_; }
  // The EventSource's last event ID string (what it would send as Last-Event-ID).
  const std::string& last_event_id() const { return last_event_id_; }

 private:
  void take_decoded(std::string_view text);
  void process_line(std::string_view line);
  void dispatch();

  Utf8Decoder decoder_;
  std::string bom_probe_;  // leading bytes held while they may still be a BOM (EF BB BF)
  bool at_stream_start_ = true;

  // Line splitting: CRLF, LF or CR end a line; a CR may be followed by a LF in a later chunk.
  std::string line_;
  bool after_cr_ = false;

  std::string data_;
  std::string event_type_;
  std::string id_buffer_;
  std::string last_event_id_;
  std::optional<std::uint64_t> retry_;
  std::vector<SseEvent> events_;
  std::vector<std::string> comments_;
  bool finished_ = false;
};

// Parses one complete stream.
std::vector<SseEvent> parse_event_stream(std::string_view bytes);

}  // namespace ssehub::test_support
