#include "http/request.hpp"


#include <boost/asio/ip/address_v6.hpp>
#include <boost/beast/core/string.hpp>

#include <array>

namespace ssehub::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    // A run of plain characters is appended whole: every request's path and query pass here.
    std::size_t plain = i;
    while (plain < text.size() && text[plain] != '%' && !(plus_is_space && text[plain] == '+'))
      ++plain;
    out.append(text.data() + i, plain - i);
    i = plain;
    if (i == text.size()) break;
    if (text[i] == '+') {
      out += ' ';
      ++i;
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 3;
  }
  return out;
}

// Every `%` starts an escape of two hex digits: what percent_decode accepts, without a copy.
bool escapes_well_formed(std::string_view text) {
  for (std::size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3)) {
    if (i + 2 >= text.size() || hex_value(text[i + 1]) < 0 || hex_value(text[i + 2]) < 0)
      return false;
  }
  return true;
}

// An IPv4 address in its canonical dotted-decimal form (four decimal octets, no leading
// zeros): checked by hand, since this runs for every request's Host and formatting an
// address back to compare (inet_ntop) cost a tenth of a publish.
bool is_dotted_quad(std::string_view text) {
  int octets = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      value = value * 10 + static_cast<unsigned>(text[digits] - '0');
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && text[0] == '0')) return false;
    ++octets;
    text.remove_prefix(digits);
    if (text.empty()) return octets == 4;
    if (text.front() != '.' || octets == 4) return false;
    text.remove_prefix(1);
  }
}

// The characters of a registered name: unreserved, sub-delims and percent-escapes (RFC 3986
// §3.2.2). A table, since every request's Host is checked (twice: its framing and the host
// policy).
constexpr std::array<bool, 256> kRegisteredNameChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

}  // namespace

std::optional<std::string> Target::param(std::string_view name) const {
  for (const auto& [key, value] : query)
    if (key == name) return value;
  return std::nullopt;
}

std::optional<std::string> Target::decoded_path() const { return percent_decode(path, false); }

std::optional<AbsoluteForm> split_absolute_form(std::string_view target) {
  const std::size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = target.substr(0, scheme_end);
  if (!boost::beast::iequals(scheme, "http") && !boost::beast::iequals(scheme, "https"))
    return std::nullopt;
  const std::string_view rest = target.substr(scheme_end + 3);
  const std::size_t path_start = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_start);
  if (!parse_authority(authority)) return std::nullopt;
  const std::string_view path_and_query =
      path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  return AbsoluteForm{authority, path_and_query};
}

std::optional<Authority> parse_authority(std::string_view text) {
  Authority parsed;
  std::optional<std::string_view> port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view inside = text.substr(1, close - 1);
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(inside), ec);
    if (ec) return std::nullopt;
    parsed.host = text.substr(0, close + 1);
    parsed.ip_literal = true;
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = text.find(':');
    parsed.host = text.substr(0, colon);
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
    if (parsed.host.empty()) return std::nullopt;
    for (char c : parsed.host)
      if (!kRegisteredNameChars[static_cast<unsigned char>(c)]) return std::nullopt;
    parsed.ip_literal = is_dotted_quad(parsed.host);
  }
  // `host:` (an empty port) is allowed and means the scheme's default.
  if (port && !port->empty()) {
    if (port->size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : *port) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    parsed.port = static_cast<std::uint16_t>(value);
  }
  return parsed;
}

std::optional<Target> parse_target(std::string_view target) {
  Target parsed;
  if (!target.starts_with('/') && target != "*") {
    const auto absolute = split_absolute_form(target);
    if (!absolute) return std::nullopt;
    parsed.authority = std::string(absolute->authority);
    target = absolute->path_and_query;
  }
  const std::size_t question = target.find('?');
  parsed.path = std::string(target.substr(0, question));
  if (parsed.path.empty()) parsed.path = "/";  // `http://host` and `http://host?q` name the root
  if (!escapes_well_formed(parsed.path)) return std::nullopt;  // kept raw, but well-formed
  if (question == std::string_view::npos) return parsed;
  std::string_view query = target.substr(question + 1);
  if (const std::size_t hash = query.find('#'); hash != std::string_view::npos)
    query = query.substr(0, hash);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : percent_decode(pair.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    parsed.query.emplace_back(std::move(*key), std::move(*value));
  }
  return parsed;
}


}  // namespace ssehub::http
