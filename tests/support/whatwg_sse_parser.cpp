#include "support/whatwg_sse_parser.hpp"

#include <algorithm>

namespace ssehub::test_support {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

void append_utf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr std::uint32_t kReplacement = 0xFFFD;

bool all_ascii_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

// Steps of https://encoding.spec.whatwg.org/#utf-8-decoder, in order.
void Utf8Decoder::push(unsigned char byte, std::string& out) {
  if (bytes_needed_ == 0) {
    if (byte <= 0x7F) {
      out += static_cast<char>(byte);
    } else if (byte >= 0xC2 && byte <= 0xDF) {
      bytes_needed_ = 1;
      code_point_ = byte & 0x1F;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      if (byte == 0xE0) lower_ = 0xA0;
      if (byte == 0xED) upper_ = 0x9F;
      bytes_needed_ = 2;
      code_point_ = byte & 0x0F;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      if (byte == 0xF0) lower_ = 0x90;
      if (byte == 0xF4) upper_ = 0x8F;
      bytes_needed_ = 3;
      code_point_ = byte & 0x07;
    } else {
      append_utf8(kReplacement, out);
    }
    return;
  }
  if (byte < lower_ || byte > upper_) {
    code_point_ = 0;
    bytes_needed_ = bytes_seen_ = 0;
    lower_ = 0x80;
    upper_ = 0xBF;
    append_utf8(kReplacement, out);
    push(byte, out);  // "prepend byte to stream": it starts afresh
    return;
  }
  lower_ = 0x80;
  upper_ = 0xBF;
  code_point_ = (code_point_ << 6) | (byte & 0x3F);
  if (++bytes_seen_ != bytes_needed_) return;
  append_utf8(code_point_, out);
  code_point_ = 0;
  bytes_needed_ = bytes_seen_ = 0;
}

void Utf8Decoder::finish(std::string& out) {
  if (bytes_needed_ == 0) return;
  *this = Utf8Decoder{};
  append_utf8(kReplacement, out);
}

std::string utf8_decode(std::string_view bytes) {
  Utf8Decoder decoder;
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char byte : bytes) decoder.push(byte, out);
  decoder.finish(out);
  return out;
}

void WhatwgSseParser::feed(std::string_view bytes) {
  if (finished_) return;
  std::string decoded;
  decoded.reserve(bytes.size());
  for (unsigned char byte : bytes) {
    if (at_stream_start_) {
      // The stream is decoded with "UTF-8 decode", which drops one leading BOM.
      bom_probe_ += static_cast<char>(byte);
      if (kBom.starts_with(bom_probe_)) {
        if (bom_probe_.size() < kBom.size()) continue;
        bom_probe_.clear();
        at_stream_start_ = false;
        continue;
      }
      at_stream_start_ = false;
      for (unsigned char held : bom_probe_) decoder_.push(held, decoded);
      bom_probe_.clear();
      continue;
    }
    decoder_.push(byte, decoded);
  }
  take_decoded(decoded);
}

void WhatwgSseParser::finish() {
  if (finished_) return;
  std::string decoded;
  for (unsigned char held : bom_probe_) decoder_.push(held, decoded);
  bom_probe_.clear();
  decoder_.finish(decoded);
  take_decoded(decoded);
  // "Once the end of the file is reached, any pending data must be discarded."
  finished_ = true;
  line_.clear();
  data_.clear();
  event_type_.clear();
}

// "Lines must be processed ... by looking for ... a U+000D CARRIAGE RETURN U+000A LINE FEED
// (CRLF) character pair, a single U+000A LINE FEED (LF) character not preceded by a U+000D
// CARRIAGE RETURN (CR) character, and a single U+000D CARRIAGE RETURN (CR) character not
// followed by a U+000A LINE FEED (LF) character being the ways in which a line can end."
void WhatwgSseParser::take_decoded(std::string_view text) {
  for (char c : text) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF split across chunks
    }
    if (c == '\r' || c == '\n') {
      process_line(line_);
      line_.clear();
      after_cr_ = c == '\r';
      continue;
    }
    line_ += c;
  }
}

void WhatwgSseParser::process_line(std::string_view line) {
  if (line.empty()) return dispatch();
  if (line.front() == ':') {
    comments_.emplace_back(line.substr(1));
    return;
  }
  std::string_view field = line;
  std::string_view value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "event") {
    event_type_ = value;
  } else if (field == "data") {
    data_ += value;
    data_ += '\n';
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_buffer_ = value;
  } else if (field == "retry") {
    // Digits only; a value too large for 64 bits is ignored here (the spec leaves the
    // range to the user agent).
    if (all_ascii_digits(value) && value.size() <= 19) retry_ = std::stoull(std::string(value));
  }
  // Any other field is ignored.
}

void WhatwgSseParser::dispatch() {
  last_event_id_ = id_buffer_;
  if (data_.empty()) {
    event_type_.clear();
    return;
  }
  if (data_.back() == '\n') data_.pop_back();
  events_.push_back(SseEvent{.type = event_type_.empty() ? "message" : event_type_,
                             .data = std::move(data_),
                             .last_event_id = last_event_id_});
  data_.clear();
  event_type_.clear();
}

std::vector<SseEvent> parse_event_stream(std::string_view bytes) {
  WhatwgSseParser parser;
  parser.feed(bytes);
  parser.finish();
  return parser.events();
}

}  // namespace ssehub::test_support
