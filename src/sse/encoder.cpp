#include "sse/encoder.hpp"


namespace ssehub::sse {

namespace {

constexpr std::size_t kLongestIdLine = 4 + 20 + 1;  // "id: " + UINT64_MAX digits + LF

// Calls `line(text)` for every line of `data`, split at LF, CR or CRLF.
template <class OnLine>
void for_each_line(std::string_view data, OnLine&& line) {
  std::size_t line_start = 0;
  for (;;) {
    const std::size_t brk = data.find_first_of("\r\n", line_start);
    line(data.substr(line_start, brk == std::string_view::npos ? brk : brk - line_start));
    if (brk == std::string_view::npos) break;
    line_start = brk + 1;
    if (data[brk] == '\r' && line_start < data.size() && data[line_start] == '\n') ++line_start;
  }
}

}  // namespace

std::string encode_event(std::string_view type, std::optional<std::uint64_t> id,
                         std::string_view data) {
  std::string frame;
  frame.reserve(data.size() + type.size() + 40);
  if (id) {
    frame += "id: ";
    frame += std::to_string(*id);
    frame += '\n';
  }
  if (!type.empty()) {
    frame += "event: ";
    frame += type;
    frame += '\n';
  }
  for_each_line(data, [&](std::string_view line) {
    frame += "data: ";
    frame += line;
    frame += '\n';
  });
  frame += '\n';
  return frame;
}

std::size_t encoded_event_size(std::string_view type, std::string_view data) {
  std::size_t size = kLongestIdLine + 1;  // and the blank line that ends the event
  if (!type.empty()) size += 7 + type.size() + 1;
  for_each_line(data, [&](std::string_view line) { size += 6 + line.size() + 1; });
  return size;
}

std::string encode_comment_line(std::string_view text) {
  std::string frame = ": ";
  frame += text;
  frame += '\n';
  return frame;
}

std::string encode_retry(std::uint64_t millis) { return "retry: " + std::to_string(millis) + "\n"; }

}  // namespace ssehub::sse
