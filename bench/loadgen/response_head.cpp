#include "response_head.hpp"

#include <charconv>

namespace loadgen {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

ResponseHead::Result ResponseHead::feed(const char* data, size_t len) {
  size_t old_size = buf_.size();
  // Only the head may end up in buf_, so look for its end before copying everything.
  size_t scan_from = old_size >= 3 ? old_size - 3 : 0;
  buf_.append(data, len);
  for (size_t i = scan_from; i < buf_.size(); ++i) {
    if (buf_[i] != '\n') continue;
    size_t j = i + 1;
    if (j < buf_.size() && buf_[j] == '\r') ++j;
    if (j < buf_.size() && buf_[j] == '\n') {
      size_t head_end = j + 1;
      if (head_end <= old_size) continue;  // an end seen before would have returned
      buf_.resize(head_end);
      size_t consumed = head_end - old_size;
      if (!parse(buf_)) return {Status::Error, consumed};
      return {Status::Done, consumed};
    }
  }
  if (buf_.size() > kMaxHeadBytes) return {Status::Error, len};
  return {Status::NeedMore, len};
}

bool ResponseHead::parse(std::string_view head) {
  size_t eol = head.find('\n');
  std::string_view status_line = trim(head.substr(0, eol));
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return false;
  bool http10 = status_line.substr(5, 3) == "1.0";
  keep_alive_ = !http10;
  auto [ptr, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status_code_);
  if (ec != std::errc{} || ptr != status_line.data() + 12) return false;

  bool chunked = false;
  bool has_length = false;
  size_t pos = eol + 1;
  while (pos < head.size()) {
    size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = trim(head.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "transfer-encoding")) {
      chunked = icontains(value, "chunked");
    } else if (iequals(name, "content-length")) {
      auto r = std::from_chars(value.data(), value.data() + value.size(), content_length_);
      if (r.ec != std::errc{}) return false;
      has_length = true;
    } else if (iequals(name, "connection")) {
      if (icontains(value, "close")) keep_alive_ = false;
      if (icontains(value, "keep-alive")) keep_alive_ = true;
    }
  }
  if ((status_code_ >= 100 && status_code_ < 200) || status_code_ == 204 || status_code_ == 304) {
    framing_ = BodyFraming::None;
  } else if (chunked) {
    framing_ = BodyFraming::Chunked;
  } else if (has_length) {
    framing_ = content_length_ == 0 ? BodyFraming::None : BodyFraming::Length;
  } else {
    framing_ = BodyFraming::UntilClose;
    keep_alive_ = false;
  }
  return true;
}

}  // namespace loadgen
