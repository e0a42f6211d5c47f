// Bytes as a client sends them on one connection, through what ssehub does with a request
// before a handler runs (http/http_session.cpp): the RequestReader (Beast's parser with
// ssehub's framing rules and limits on head, body, chunk lines and trailers), fed in TCP-sized
// pieces, keep-alive requests one after another, with the buffer checked to stay bounded; then the
// CORS decision, the target decoder, and the checks the stream and report APIs apply to
// the query (username, user_id), the Last-Event-ID header, the credentials (JWT from header,
// cookie or query; publish token) and the PUT /v4/report body.
#include "api/stream_api.hpp"
#include "auth/access_policy.hpp"
#include "config/config.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "fuzz_check.hpp"
#include "history/memory/memory_event_log.hpp"
#include "http/cors.hpp"
#include "http/host_policy.hpp"
#include "http/request.hpp"
#include "http/request_reader.hpp"
#include "http/responses.hpp"
#include "reports/report.hpp"
#include "reports/report_api.hpp"
#include "support/whatwg_sse_parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

namespace {

using namespace ssehub;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;

// What the server builds once at start-up, just enough for the request checks.
struct Server {
  config::Config config;
  metrics::Registry metrics;
  hub::Hub hub{{}, hub::HubLimits{}, metrics};
  history::History history{
      std::make_unique<history::MemoryEventLog>(history::MemoryEventLogOptions{}, metrics),
      history::HistoryOptions{}, metrics};  // never started: no handler here appends
  bus::LocalBus bus{history};
  auth::AccessPolicy access{auth::AccessSettings{}};
  // As with --auth jwt and a publish token.
  auth::AccessPolicy guarded{auth::AccessSettings{.require_jwt = true,
                                                 .jwt = {.hs256_secret = "fuzz-hs256-secret-of-32-bytes!!!"},
                                                 .publish_token = "fuzz-publish-token"}};
  http::HostPolicy hosts{false, {}};
  api::StreamApi streams{config, hub, history, bus, access, metrics};
  http::CorsPolicy default_cors{{}};
  http::CorsPolicy allowlist_cors{{"https://app.example.com"}};
  http::CorsPolicy any_cors{{"*"}};
};

Server& server() {
  static Server* instance = new Server;  // leaked on purpose: outlives every input
  return *instance;
}

bool is_strict_utf8(std::string_view text) { return test_support::utf8_decode(text) == text; }

bool is_json_error(const http::Response& response) {
  const auto json = nlohmann::json::parse(response.body(), nullptr, false);
  return json.is_object() && json.contains("error") && json["error"].is_string();
}

void check_cors(const http::RawRequest& request) {
  const std::string_view origin = request[beast_http::field::origin];
  const std::string_view host = request[beast_http::field::host];
  const std::string by_default = server().default_cors.allow(origin, host);
  FUZZ_CHECK(by_default.empty() || by_default == origin);
  const std::string listed = server().allowlist_cors.allow(origin, host);
  FUZZ_CHECK(listed == (origin == "https://app.example.com" ? origin : ""));
  const std::string any = server().any_cors.allow(origin, host);
  FUZZ_CHECK(any == (origin.empty() ? "" : "*"));
}

bool refuses(const std::optional<http::Response>& answer) {
  if (!answer) return false;
  FUZZ_CHECK(answer->result() == beast_http::status::unauthorized ||
             answer->result() == beast_http::status::forbidden);
  FUZZ_CHECK(is_json_error(*answer));
  return true;
}

// Who may subscribe and publish, from the Authorization header, the cookie or ?token=.
void check_access(const http::RawRequest& raw, const http::Target& target) {
  const http::RequestHead request{raw, target, {}};
  const std::string user = target.param("username").value_or("alice");
  refuses(server().guarded.check_subscriber(request, user));
  refuses(server().guarded.check_user_or_publisher(request, user));
  FUZZ_CHECK(!refuses(server().access.check_subscriber(request, user)));
  if (!refuses(server().guarded.check_publisher(request))) {
    // The publish token counts only from headers, never from the URL or a cookie; no JWT of
    // the fuzzer's can be signed with the server's secret.
    const std::string_view offered = raw["X-Publish-Token"];
    const std::string_view authorization = raw[beast_http::field::authorization];
    FUZZ_CHECK(offered == "fuzz-publish-token" ||
               (offered.empty() && authorization.size() > 7 &&
                boost::beast::iequals(authorization.substr(0, 7), "Bearer ") &&
                authorization.substr(7) == "fuzz-publish-token"));
  }
}

// Who is answered without authentication: an IP literal or localhost always, a name only
// when it parses.
void check_host(const http::RawRequest& raw, const http::Target& target) {
  const std::string_view authority =
      target.authority.empty() ? raw[beast_http::field::host] : std::string_view(target.authority);
  if (!server().hosts.allows(authority)) return;
  const auto parsed = http::parse_authority(authority);
  FUZZ_CHECK(parsed.has_value());
  // Allowed without a listed name: an IP literal, or localhost and names under it (a final
  // dot, the DNS root, changes nothing).
  std::string host = core::lowercase(parsed->host);
  if (!host.empty() && host.back() == '.') host.pop_back();
  FUZZ_CHECK(parsed->ip_literal || host == "localhost" ||
             (host.size() > 10 && host.ends_with(".localhost")));
}

void check_target(const http::RawRequest& request) {
  const std::string_view raw = request.target();
  const auto target = http::parse_target(raw);
  if (!target) {
    // Only escapes or the form of a target the reader let through can be faulty.
    FUZZ_CHECK(raw.find('%') != std::string_view::npos || !raw.starts_with('/'));
    return;
  }
  FUZZ_CHECK(target->path.starts_with('/') || raw == "*");
  FUZZ_CHECK(core::is_valid_utf8(target->path) == is_strict_utf8(target->path));
  check_host(request, *target);
  // The router's 404 names the decoded path, whatever bytes it holds.
  FUZZ_CHECK(is_json_error(http::json_error(beast_http::status::not_found, "not_found",
                                            "no route for " + target->path)));

  const auto username = server().streams.username_of(*target);
  if (const auto* name = std::get_if<std::string>(&username)) {
    FUZZ_CHECK(!name->empty() && name->size() <= server().config.max_username_bytes);
    FUZZ_CHECK(is_strict_utf8(*name));
    FUZZ_CHECK(std::none_of(name->begin(), name->end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; }));
    FUZZ_CHECK(target->param("username") == *name);
  } else {
    FUZZ_CHECK(is_json_error(std::get<http::Response>(username)));
  }

  const auto user_id = reports::user_id_of(*target);
  if (const auto* id = std::get_if<std::string>(&user_id))
    FUZZ_CHECK(core::canonical_uuid(*id) == *id);
  else
    FUZZ_CHECK(is_json_error(std::get<http::Response>(user_id)));

  check_access(request, *target);

  if (target->path == "/v4/report" && request.method() == beast_http::verb::put) {
    const auto change =
        reports::parse_status_change(request[beast_http::field::content_type], request.body());
    if (const auto* error = std::get_if<http::Response>(&change)) FUZZ_CHECK(is_json_error(*error));
  }
}

void check_last_event_id(const http::RawRequest& request) {
  const std::string_view value = request["Last-Event-ID"];
  const auto resume = api::parse_last_event_id(value);
  if (!resume || resume->earliest) return;
  FUZZ_CHECK(!value.empty() && value.size() <= 20);
  FUZZ_CHECK(std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

// How many bytes the n-th read of the socket delivers: small and large pieces in turn, so a
// request line, a header or a chunk header often arrives split.
std::size_t read_size(std::size_t n) {
  static constexpr std::array<std::size_t, 6> sizes = {1460, 1, 7, 64, 3, 512};
  return sizes[n % sizes.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view wire(reinterpret_cast<const char*>(bytes), size);
  const std::size_t header_limit = server().config.max_header_bytes;
  const std::size_t body_limit = server().config.max_body_bytes;
  http::RequestReader reader({.max_header_bytes = header_limit, .max_framing_bytes = header_limit});
  beast::flat_buffer buffer;  // the session's buffer
  std::size_t delivered = 0, reads = 0;
  // A connection carries requests until one is refused, is not keep-alive, or the input ends.
  for (int requests = 0; requests < 16;) {
    switch (reader.parse(buffer)) {
      case http::RequestReader::Progress::Refused: {
        const auto& refusal = reader.refusal();
        FUZZ_CHECK(static_cast<int>(refusal.status) >= 400 && !refusal.error.empty());
        FUZZ_CHECK(is_json_error(http::json_error(refusal.status, refusal.error, refusal.detail)));
        return 0;  // the session answers and closes
      }
      case http::RequestReader::Progress::HeadReady: {
        // As the router decides: a body for the methods that take one.
        const auto method = reader.head().method();
        const bool takes_body = method == beast_http::verb::post || method == beast_http::verb::put;
        reader.read_body(takes_body ? body_limit : 0);
        continue;
      }
      case http::RequestReader::Progress::Complete: {
        // Every byte of the request counted against a limit.
        FUZZ_CHECK(reader.consumed() <= header_limit + body_limit + header_limit);
        const http::RawRequest request = reader.take_request();
        FUZZ_CHECK(request.body().size() <= body_limit);
        check_cors(request);
        check_target(request);
        check_last_event_id(request);
        ++requests;
        if (!request.keep_alive()) return 0;
        continue;
      }
      case http::RequestReader::Progress::NeedMore: break;
    }
    // What waits for more bytes is at most one element within its limit plus one read.
    FUZZ_CHECK(buffer.size() <= header_limit + 1460);
    if (delivered == wire.size()) return 0;
    const std::size_t n = std::min(read_size(reads++), wire.size() - delivered);
    const auto space = buffer.prepare(n);
    std::memcpy(space.data(), wire.data() + delivered, n);
    buffer.commit(n);
    delivered += n;
  }
  return 0;
}
