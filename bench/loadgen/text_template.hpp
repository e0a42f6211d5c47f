#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

// Values that a template's placeholders stand for.
struct TemplateValues {
  uint64_t user = 0;     // {n}
  uint64_t time_ns = 0;  // {t}: steady clock, the receiver subtracts it from its own
  uint64_t run = 0;      // {r}: tells this run's events from any earlier ones
  uint64_t seq = 0;      // {seq}
};

// A text with placeholders {n} {t} {r} {seq}, split once so that expanding it is a few
// appends into a reused string. Any other brace is literal text (JSON bodies are templates).
class TextTemplate {
 public:
  TextTemplate() = default;
  explicit TextTemplate(std::string_view text);

  void expand_into(std::string& out, const TemplateValues& values) const;
  std::string expand(const TemplateValues& values) const {
    std::string out;
    expand_into(out, values);
    return out;
  }
  // Size of the expansion: literal bytes plus at most 20 digits per placeholder.
  size_t max_size() const;

 private:
  enum class Field { Literal, User, Time, Run, Seq };
  struct Part {
    Field field;
    std::string literal;
  };
  std::vector<Part> parts_;
};

// An http:// URL whose path and query are a template; the host is resolved once.
struct UrlTemplate {
  std::string host_header;  // "127.0.0.1:3000"
  uint32_t ipv4 = 0;        // network byte order
  uint16_t port = 80;       // host byte order
  TextTemplate target;      // "/v2/sse?username=u{n}"

  // Throws std::invalid_argument with a message a user can act on.
  static UrlTemplate parse(std::string_view url);
};

}  // namespace loadgen
