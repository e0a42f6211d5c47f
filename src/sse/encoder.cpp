#include "sse/encoder.hpp"

namespace ssehub::sse {

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
  std::size_t line_start = 0;
  for (;;) {
    const std::size_t brk = data.find_first_of("\r\n", line_start);
    frame += "data: ";
    frame += data.substr(line_start, brk == std::string_view::npos ? brk : brk - line_start);
    frame += '\n';
    if (brk == std::string_view::npos) break;
    line_start = brk + 1;
    if (data[brk] == '\r' && line_start < data.size() && data[line_start] == '\n') ++line_start;
  }
  frame += '\n';
  return frame;
}

std::string encode_comment(std::string_view text) {
  std::string frame = ": ";
  frame += text;
  frame += "\n\n";
  return frame;
}

std::string encode_retry(std::uint64_t millis) { return "retry: " + std::to_string(millis) + "\n\n"; }

}  // namespace ssehub::sse
