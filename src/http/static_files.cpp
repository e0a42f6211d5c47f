#include "http/static_files.hpp"

#include "http/responses.hpp"

#include <boost/beast/core/string.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ssehub::http {

namespace {

constexpr std::size_t kMaxTotalBytes = 64 << 20;

// The page loads only its own scripts, styles and images, talks only to its own origin, and
// cannot be framed (its buttons change state: a framing page could trick a click).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

std::string content_type_of(const std::filesystem::path& path) {
  static const std::unordered_map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"},      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},              {".svg", "image/svg+xml"},
      {".png", "image/png"},                      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},                   {".webp", "image/webp"},
      {".woff2", "font/woff2"},                   {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"}, {".map", "application/json"}};
  auto it = types.find(path.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

bool is_api_path(std::string_view path) {
  for (std::string_view prefix : {"/v1", "/v2", "/v3", "/v4", "/api"})
    if (path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/')) return true;
  for (std::string_view route : {"/healthz", "/readyz", "/metrics"})
    if (path.starts_with(route)) return true;
  return false;
}

// The last path segment names a file (`/favicon.ico`, `/x.js`): a missing one is a 404, not
// the single-page app's index.html (a browser would parse HTML as a script or an icon).
bool names_a_file(std::string_view path) {
  const std::string_view last = path.substr(path.rfind('/') + 1);
  return last.find('.') != std::string_view::npos;
}

// A fetch() or a script asking for JSON gets the JSON 404; a browser navigating (Accept
// names text/html) or a plain client (no Accept, */*) gets the page.
bool wants_json(std::string_view accept) {
  auto mentions = [&](std::string_view type) {
    for (std::size_t at = 0; at + type.size() <= accept.size(); ++at)
      if (boost::beast::iequals(accept.substr(at, type.size()), type)) return true;
    return false;
  };
  return mentions("json") && !mentions("text/html");
}

}  // namespace

std::size_t StaticFiles::load(const std::string& configured_root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string root = configured_root;
  // A relative default also works when ssehub is started from another directory: the
  // binary lives in build/, next to web/.
  if (!fs::is_directory(root, ec) && fs::path(root).is_relative()) {
    const fs::path beside_binary = fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / root;
    if (fs::is_directory(beside_binary, ec)) root = beside_binary.string();
  }
  if (!fs::is_directory(root, ec)) {
    spdlog::warn("web: {} not found; the UI is not served (build it with `make web`)", root);
    return 0;
  }
  const fs::path canonical_root = fs::canonical(root, ec);
  std::size_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file()) continue;
    // Named by where it is in the root, not by what it points to.
    const fs::path relative = entry.path().lexically_relative(root);
    if (entry.is_symlink()) {
      const fs::path target = fs::canonical(entry.path(), ec);
      const fs::path inside = target.lexically_relative(canonical_root);
      if (ec || inside.empty() || *inside.begin() == "..") {
        spdlog::warn("web: skipping {}: a link to {}, outside {}", entry.path().string(),
                     target.string(), root);
        continue;
      }
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    total += body.str().size();
    if (total > kMaxTotalBytes) {
      spdlog::warn("web: {} is larger than {} bytes; serving only part of it", root, kMaxTotalBytes);
      break;
    }
    files_["/" + relative.generic_string()] = {content_type_of(entry.path()), body.str()};
  }
  spdlog::info("web: serving {} files from {}", files_.size(), root);
  return files_.size();
}

void StaticFiles::serve(const ExchangePtr& exchange) const {
  const auto& request = exchange->request();
  const std::string& path = request.target.path;
  const auto method = request.raw.method();
  auto not_found = [&](std::string detail) {
    exchange->respond(json_error(beast_http::status::not_found, "not_found", detail));
  };
  if (is_api_path(path) || (method != beast_http::verb::get && method != beast_http::verb::head))
    return not_found("no route for " + std::string(request.raw.method_string()) + " " + path);
  auto it = files_.find(path == "/" ? "/index.html" : path);
  const bool hashed = it != files_.end() && path.starts_with("/assets/");
  if (it == files_.end()) {
    if (names_a_file(path) || path.starts_with("/assets/"))
      return not_found("no such file: " + path);
    if (wants_json(request.raw[beast_http::field::accept]))
      return not_found("no route for " + path);
    if ((it = files_.find("/index.html")) == files_.end()) return not_found("no such page: " + path);
  }
  Response response{beast_http::status::ok, 11};
  response.set(beast_http::field::content_type, it->second.content_type);
  response.set(beast_http::field::cache_control,
               hashed ? "public, max-age=31536000, immutable" : "no-cache");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Content-Security-Policy", kContentSecurityPolicy);
  response.set("X-Frame-Options", "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.body() = it->second.body;  // the session drops it again for HEAD
  response.prepare_payload();
  exchange->respond(std::move(response));
}

}  // namespace ssehub::http
