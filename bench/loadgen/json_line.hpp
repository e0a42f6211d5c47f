#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace loadgen {

// Builds one flat JSON object on one line, in the order fields are added.
class JsonLine {
 public:
  JsonLine& add(std::string_view key, std::string_view value) {
    open_key(key);
    out_.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
        out_.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        out_.append(esc);
      } else {
        out_.push_back(c);
      }
    }
    out_.push_back('"');
    return *this;
  }
  JsonLine& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonLine& add(std::string_view key, uint64_t value) { return raw(key, std::to_string(value)); }
  JsonLine& add(std::string_view key, int64_t value) { return raw(key, std::to_string(value)); }
  JsonLine& add(std::string_view key, uint32_t value) { return add(key, uint64_t(value)); }
  JsonLine& add(std::string_view key, int value) { return add(key, int64_t(value)); }
  JsonLine& add(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonLine& add(std::string_view key, double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    return raw(key, buf);
  }
  JsonLine& raw(std::string_view key, std::string_view json) {
    open_key(key);
    out_.append(json);
    return *this;
  }
  std::string str() const { return out_ + "}"; }

 private:
  void open_key(std::string_view key) {
    if (out_.size() > 1) out_.push_back(',');
    out_.push_back('"');
    out_.append(key);
    out_.append("\":");
  }

  std::string out_ = "{";
};

}  // namespace loadgen
