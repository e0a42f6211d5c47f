#pragma once

#include <cstddef>
#include <cstdint>

namespace loadgen {

// What the load generator reads from one event: the tokens r=<run> t=<send ns> n=<user>
// anywhere in its data lines (the publisher puts them there; anything else is ignored).
struct SseEvent {
  uint64_t run = 0;
  uint64_t sent_ns = 0;
  uint64_t user = 0;
  bool has_run = false;
  bool has_time = false;
  bool has_user = false;
};

// Incremental event-stream parser after the WHATWG rules: lines end in CR, LF or CRLF, input
// may be split at any byte, comments and fields other than `data` are skipped, and an event
// is dispatched at a blank line only if it had a data field. It keeps a few bytes of state per
// stream and never buffers a line, so a stream costs the same whatever its event size.
class SseParser {
 public:
  // on_event(const SseEvent&) is called once per dispatched event.
  template <class OnEvent>
  void feed(const char* data, size_t len, OnEvent&& on_event) {
    for (size_t i = 0; i < len; ++i) {
      char c = data[i];
      if (skip_lf_) {
        skip_lf_ = false;
        if (c == '\n') continue;
      }
      if (c == '\r' || c == '\n') {
        skip_lf_ = c == '\r';
        end_of_line(on_event);
        continue;
      }
      switch (line_) {
        case Line::Start:
          if (c == ':') {
            line_ = Line::Skip;
          } else if (c == 'd') {
            line_ = Line::Field;
            field_pos_ = 1;
          } else {
            line_ = Line::Skip;
          }
          break;
        case Line::Field:
          if (field_pos_ == 4) {
            if (c == ':') {
              line_ = Line::ValueStart;
              event_has_data_ = true;
            } else {
              line_ = Line::Skip;
            }
          } else if (c == "data"[field_pos_]) {
            ++field_pos_;
          } else {
            line_ = Line::Skip;
          }
          break;
        case Line::ValueStart:
          line_ = Line::Value;
          token_ = Token::AfterSeparator;
          if (c != ' ') value_char(c);
          break;
        case Line::Value: value_char(c); break;
        case Line::Skip: break;
      }
    }
  }

 private:
  enum class Line : uint8_t { Start, Field, ValueStart, Value, Skip };
  enum class Token : uint8_t { AfterSeparator, Key, Number, Other };

  static bool is_separator(char c) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return !alnum && c != '=';
  }

  void value_char(char c) {
    switch (token_) {
      case Token::AfterSeparator:
        if (c == 'r' || c == 't' || c == 'n') {
          key_ = c;
          token_ = Token::Key;
        } else if (!is_separator(c)) {
          token_ = Token::Other;
        }
        break;
      case Token::Key:
        if (c == '=') {
          token_ = Token::Number;
          number_ = 0;
          digits_ = 0;
        } else {
          token_ = is_separator(c) ? Token::AfterSeparator : Token::Other;
        }
        break;
      case Token::Number:
        if (c >= '0' && c <= '9' && digits_ < 20) {
          number_ = number_ * 10 + uint64_t(c - '0');
          ++digits_;
        } else {
          commit_number();
          token_ = is_separator(c) ? Token::AfterSeparator : Token::Other;
        }
        break;
      case Token::Other:
        if (is_separator(c)) token_ = Token::AfterSeparator;
        break;
    }
  }

  void commit_number() {
    if (digits_ == 0) return;
    switch (key_) {
      case 'r':
        event_.run = number_;
        event_.has_run = true;
        break;
      case 't':
        event_.sent_ns = number_;
        event_.has_time = true;
        break;
      case 'n':
        event_.user = number_;
        event_.has_user = true;
        break;
      default: break;
    }
    digits_ = 0;
  }

  template <class OnEvent>
  void end_of_line(OnEvent& on_event) {
    switch (line_) {
      case Line::Start:  // blank line: dispatch
        if (event_has_data_) on_event(static_cast<const SseEvent&>(event_));
        event_ = SseEvent{};
        event_has_data_ = false;
        break;
      case Line::Field:  // a bare "data" line is a data field with an empty value
        if (field_pos_ == 4) event_has_data_ = true;
        break;
      case Line::Value:
        if (token_ == Token::Number) commit_number();
        break;
      case Line::ValueStart:
      case Line::Skip: break;
    }
    line_ = Line::Start;
  }

  SseEvent event_;
  uint64_t number_ = 0;
  Line line_ = Line::Start;
  Token token_ = Token::AfterSeparator;
  uint8_t field_pos_ = 0;
  uint8_t digits_ = 0;
  char key_ = 0;
  bool event_has_data_ = false;
  bool skip_lf_ = false;
};

}  // namespace loadgen
