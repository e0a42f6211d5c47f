#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loadgen {

// How the body of a response is delimited.
enum class BodyFraming { None, Length, Chunked, UntilClose };

// Incremental parser of an HTTP/1.x response head (status line and headers). It keeps the
// head in one string whose capacity is reused across responses on a keep-alive connection.
class ResponseHead {
 public:
  enum class Status { NeedMore, Done, Error };

  struct Result {
    Status status;
    size_t consumed;  // input bytes that belonged to the head
  };

  static constexpr size_t kMaxHeadBytes = 16 * 1024;

  void reset() {
    buf_.clear();
    status_code_ = 0;
    content_length_ = 0;
    framing_ = BodyFraming::UntilClose;
    keep_alive_ = true;
  }

  Result feed(const char* data, size_t len);

  int status_code() const { return status_code_; }
  BodyFraming framing() const { return framing_; }
  uint64_t content_length() const { return content_length_; }
  bool keep_alive() const { return keep_alive_; }
  std::string_view header_text() const { return buf_; }

 private:
  bool parse(std::string_view head);

  std::string buf_;
  int status_code_ = 0;
  uint64_t content_length_ = 0;
  BodyFraming framing_ = BodyFraming::UntilClose;
  bool keep_alive_ = true;
};

}  // namespace loadgen
