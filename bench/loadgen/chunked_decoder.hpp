#pragma once

#include <cstddef>
#include <cstdint>

namespace loadgen {

// Removes HTTP/1.1 chunked transfer coding incrementally: input may be split anywhere, and
// the payload is handed to the sink as spans of the input (no copy).
class ChunkedDecoder {
 public:
  enum class Status { Ok, End, Error };

  struct Result {
    Status status;
    size_t consumed;  // bytes of input used; on End, the rest belongs to the next message
  };

  void reset() {
    state_ = State::Size;
    remaining_ = 0;
    digits_ = 0;
  }

  // sink(const char* data, size_t len) receives the decoded payload.
  template <class Sink>
  Result feed(const char* data, size_t len, Sink&& sink) {
    size_t i = 0;
    while (i < len) {
      char c = data[i];
      switch (state_) {
        case State::Size: {
          int v = hex_value(c);
          if (v >= 0) {
            if (++digits_ > 15) return {Status::Error, i};
            remaining_ = remaining_ * 16 + uint64_t(v);
            ++i;
          } else if (c == ';' || c == ' ' || c == '\t') {
            state_ = State::Extension;
            ++i;
          } else if (c == '\r') {
            state_ = State::SizeLf;
            ++i;
          } else if (c == '\n') {
            ++i;
            if (!end_of_size_line()) return {Status::Error, i};
          } else {
            return {Status::Error, i};
          }
          break;
        }
        case State::Extension:
          ++i;
          if (c == '\n' && !end_of_size_line()) return {Status::Error, i};
          break;
        case State::SizeLf:
          ++i;
          if (c != '\n' || !end_of_size_line()) return {Status::Error, i};
          break;
        case State::Data: {
          size_t take = len - i;
          if (take > remaining_) take = size_t(remaining_);
          sink(data + i, take);
          i += take;
          remaining_ -= take;
          if (remaining_ == 0) state_ = State::DataCr;
          break;
        }
        case State::DataCr:
          ++i;
          if (c == '\r') {
            state_ = State::DataLf;
          } else if (c == '\n') {
            start_size();
          } else {
            return {Status::Error, i};
          }
          break;
        case State::DataLf:
          ++i;
          if (c != '\n') return {Status::Error, i};
          start_size();
          break;
        case State::TrailerStart:
          ++i;
          if (c == '\r') {
            state_ = State::TrailerEndLf;
          } else if (c == '\n') {
            state_ = State::End;
            return {Status::End, i};
          } else {
            state_ = State::TrailerLine;
          }
          break;
        case State::TrailerLine:
          ++i;
          if (c == '\n') state_ = State::TrailerStart;
          break;
        case State::TrailerEndLf:
          ++i;
          if (c != '\n') return {Status::Error, i};
          state_ = State::End;
          return {Status::End, i};
        case State::End: return {Status::End, i};
      }
    }
    return {state_ == State::End ? Status::End : Status::Ok, i};
  }

 private:
  enum class State : uint8_t {
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerEndLf,
    End
  };

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  void start_size() {
    state_ = State::Size;
    remaining_ = 0;
    digits_ = 0;
  }

  bool end_of_size_line() {
    if (digits_ == 0) return false;
    state_ = remaining_ == 0 ? State::TrailerStart : State::Data;
    return true;
  }

  State state_ = State::Size;
  uint8_t digits_ = 0;
  uint64_t remaining_ = 0;
};

}  // namespace loadgen
