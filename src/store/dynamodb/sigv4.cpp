#include "store/dynamodb/sigv4.hpp"

#include "core/text.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <stdexcept>

namespace ssehub::store::dynamodb {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

using Digest = std::array<unsigned char, 32>;

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0x0F];
  }
  return out;
}

Digest hmac_sha256(std::string_view key, std::string_view data) {
  Digest digest{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(),
           &size) == nullptr ||
      size != digest.size())
    throw std::runtime_error("HMAC-SHA256 failed");
  return digest;
}

std::string_view as_view(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 percent-encoding of everything but the unreserved characters, upper-case hex, as
// SigV4 requires (not the '+'-for-space of HTML forms).
std::string uri_encode(std::string_view text, bool keep_slashes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slashes && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

std::string canonical_uri(std::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return uri_encode(path, /*keep_slashes=*/true);

  // RFC 3986 remove_dot_segments, plus dropping empty segments ("//" counts as "/").
  std::vector<std::string_view> segments;
  std::string_view last_raw_segment;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, slash - start);
    last_raw_segment = segment;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = slash + 1;
  }
  const bool trailing_slash =
      last_raw_segment.empty() || last_raw_segment == "." || last_raw_segment == "..";

  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out += '/';
    out += uri_encode(segments[i], /*keep_slashes=*/false);
  }
  if (trailing_slash && !segments.empty()) out += '/';
  return out;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query)
    encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
  // Sorted by the encoded bytes, names first, then values of a repeated name.
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Trims and collapses runs of whitespace (including the line breaks of an obs-folded value)
// into one space, as the canonical form requires.
std::string canonical_header_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::string utc_format(std::chrono::system_clock::time_point when, const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t size = std::strftime(text, sizeof text, format, &utc);
  return std::string(text, size);
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size())
    throw std::runtime_error("SHA-256 failed");
  return to_hex(digest.data(), digest.size());
}

SigV4Signature sign_v4(const SigV4Request& request, const AwsCredentials& credentials,
                       const SigV4Scope& scope, std::chrono::system_clock::time_point now,
                       const SigV4Options& options) {
  SigV4Signature result;
  const std::string amz_date = utc_format(now, "%Y%m%dT%H%M%SZ");
  const std::string date = amz_date.substr(0, 8);
  const std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";

  result.added_headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty())
    result.added_headers.emplace_back("X-Amz-Security-Token", credentials.session_token);

  // Ordered by lowercase name, which is the canonical order.
  std::map<std::string, std::string> canonical_headers;
  auto add_header = [&](std::string_view name, std::string_view value) {
    auto [it, inserted] = canonical_headers.try_emplace(core::lowercase(name));
    if (!inserted) it->second += ',';
    it->second += canonical_header_value(value);
  };
  for (const auto& [name, value] : request.headers) add_header(name, value);
  for (const auto& [name, value] : result.added_headers) add_header(name, value);

  std::string header_block;
  for (const auto& [name, value] : canonical_headers) {
    header_block += name + ":" + value + "\n";
    if (!result.signed_headers.empty()) result.signed_headers += ';';
    result.signed_headers += name;
  }

  result.canonical_request = request.method + "\n" +
                             canonical_uri(request.path, options.normalize_path) + "\n" +
                             canonical_query(request.query) + "\n" + header_block + "\n" +
                             result.signed_headers + "\n" + sha256_hex(request.payload);

  result.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + credential_scope +
                          "\n" + sha256_hex(result.canonical_request);

  Digest key = hmac_sha256("AWS4" + credentials.secret_access_key, date);
  key = hmac_sha256(as_view(key), scope.region);
  key = hmac_sha256(as_view(key), scope.service);
  key = hmac_sha256(as_view(key), "aws4_request");
  const Digest signature = hmac_sha256(as_view(key), result.string_to_sign);
  result.signature = to_hex(signature.data(), signature.size());

  result.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id +
                         "/" + credential_scope + ", SignedHeaders=" + result.signed_headers +
                         ", Signature=" + result.signature;
  return result;
}

}  // namespace ssehub::store::dynamodb
