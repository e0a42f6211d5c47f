#include "text_template.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <stdexcept>

namespace loadgen {

TextTemplate::TextTemplate(std::string_view text) {
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) parts_.push_back({Field::Literal, std::move(literal)});
    literal.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    std::string_view rest = text.substr(i);
    Field field = Field::Literal;
    size_t skip = 0;
    if (rest.starts_with("{n}")) {
      field = Field::User, skip = 3;
    } else if (rest.starts_with("{t}")) {
      field = Field::Time, skip = 3;
    } else if (rest.starts_with("{r}")) {
      field = Field::Run, skip = 3;
    } else if (rest.starts_with("{seq}")) {
      field = Field::Seq, skip = 5;
    }
    if (field == Field::Literal) {
      literal.push_back(text[i]);
      ++i;
    } else {
      flush();
      parts_.push_back({field, {}});
      i += skip;
    }
  }
  flush();
}

void TextTemplate::expand_into(std::string& out, const TemplateValues& values) const {
  for (const Part& part : parts_) {
    uint64_t number = 0;
    switch (part.field) {
      case Field::Literal: out.append(part.literal); continue;
      case Field::User: number = values.user; break;
      case Field::Time: number = values.time_ns; break;
      case Field::Run: number = values.run; break;
      case Field::Seq: number = values.seq; break;
    }
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, number);
    out.append(digits, r.ptr);
  }
}

size_t TextTemplate::max_size() const {
  size_t n = 0;
  for (const Part& part : parts_) n += part.field == Field::Literal ? part.literal.size() : 20;
  return n;
}

UrlTemplate UrlTemplate::parse(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    throw std::invalid_argument("only http:// URLs are supported: " + std::string(url));
  }
  std::string_view rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "/" : rest.substr(slash);

  UrlTemplate out;
  std::string host(authority);
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    std::string_view port_text = authority.substr(colon + 1);
    auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
    if (r.ec != std::errc{} || r.ptr != port_text.data() + port_text.size() || out.port == 0) {
      throw std::invalid_argument("bad port in URL: " + std::string(url));
    }
  }
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
      throw std::invalid_argument("cannot resolve host of URL: " + std::string(url));
    }
    addr = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
    freeaddrinfo(found);
  }
  out.ipv4 = addr.s_addr;
  out.host_header = std::string(authority);
  out.target = TextTemplate(target);
  return out;
}

}  // namespace loadgen
