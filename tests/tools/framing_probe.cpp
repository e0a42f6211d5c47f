// What ssehub makes of the bytes of one connection, for the differential framing check
// (tests/tools/framing_differential.py): reads inputs from stdin, one base64 line each (the
// bytes a client sends on one connection), and prints one JSON line per input:
//
//   {"requests": [{"method", "target", "body", "end"}...], "outcome", ...}
//
// Method, target and body are base64 (bytes as parsed); `end` is the offset in the input just
// after the request. `outcome` says how reading ended:
// "refused" (with the `status` and `error` ssehub answers and `at`, the offset reached),
// "closed" (the last request was not keep-alive: the session answers and closes), or
// "incomplete" (the input ended while ssehub waited for more).
//
// It reads as http/http_session.cpp does: the RequestReader with the server's default limits,
// the input fed in the session's 16 KiB reads, and on HeadReady read_body() with the limit the
// router gives (--max-body-bytes for POST, PUT and PATCH, nothing for the other methods).
// Routing, Host and credentials are left out: they refuse whole requests, not framing.
#include "config/config.hpp"
#include "http/request_reader.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace {

using namespace ssehub;
namespace beast_http = boost::beast::http;

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string bytes(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  bytes.resize(static_cast<std::size_t>(n) - padding);
  return bytes;
}

std::string base64_encode(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(n));
  return text;
}

bool takes_body(beast_http::verb method) {
  return method == beast_http::verb::post || method == beast_http::verb::put ||
         method == beast_http::verb::patch;
}

nlohmann::json probe(std::string_view wire, const config::Config& config) {
  constexpr std::size_t kReadSize = 16 * 1024;  // HttpSession::do_read
  http::RequestReader reader({.max_header_bytes = config.max_header_bytes,
                              .max_framing_bytes = config.max_header_bytes});
  boost::beast::flat_buffer buffer;
  std::size_t delivered = 0;
  nlohmann::json result = {{"requests", nlohmann::json::array()}};
  for (;;) {
    switch (reader.parse(buffer)) {
      case http::RequestReader::Progress::NeedMore: {
        if (delivered == wire.size()) {
          result["outcome"] = "incomplete";
          return result;
        }
        const std::size_t n = std::min(kReadSize, wire.size() - delivered);
        const auto space = buffer.prepare(n);
        std::memcpy(space.data(), wire.data() + delivered, n);
        buffer.commit(n);
        delivered += n;
        continue;
      }
      case http::RequestReader::Progress::HeadReady:
        reader.read_body(takes_body(reader.head().method()) ? config.max_body_bytes : 0);
        continue;
      case http::RequestReader::Progress::Complete: {
        const http::RawRequest request = reader.take_request();
        result["requests"].push_back({{"method", base64_encode(request.method_string())},
                                      {"target", base64_encode(request.target())},
                                      {"body", base64_encode(request.body())},
                                      {"end", delivered - buffer.size()}});
        if (!request.keep_alive()) {
          result["outcome"] = "closed";
          return result;
        }
        continue;
      }
      case http::RequestReader::Progress::Refused: {
        const auto& refusal = reader.refusal();
        result["outcome"] = "refused";
        result["status"] = static_cast<int>(refusal.status);
        result["error"] = refusal.error;
        result["detail"] = refusal.detail;
        result["at"] = delivered - buffer.size();
        return result;
      }
    }
  }
}

}  // namespace

int main() {
  const config::Config config;  // the defaults: --max-header-bytes 8 KiB, --max-body-bytes 64 KiB
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto wire = base64_decode(line);
    if (!wire) {
      std::cerr << "framing_probe: not base64: " << line.substr(0, 80) << "\n";
      return 2;
    }
    std::cout << probe(*wire, config).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  return 0;
}
