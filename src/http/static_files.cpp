#include "http/static_files.hpp"

#include "http/responses.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ssehub::http {

namespace {

constexpr std::size_t kMaxTotalBytes = 64 << 20;

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
  for (std::string_view prefix : {"/v1/", "/v2/", "/v3/", "/v4/", "/healthz", "/readyz", "/metrics"})
    if (path.starts_with(prefix)) return true;
  return false;
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
  std::size_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    total += body.str().size();
    if (total > kMaxTotalBytes) {
      spdlog::warn("web: {} is larger than {} bytes; serving only part of it", root, kMaxTotalBytes);
      break;
    }
    const std::string url = "/" + fs::relative(entry.path(), root).generic_string();
    files_[url] = {content_type_of(entry.path()), body.str()};
  }
  spdlog::info("web: serving {} files from {}", files_.size(), root);
  return files_.size();
}

void StaticFiles::serve(const ExchangePtr& exchange) const {
  const auto& request = exchange->request();
  const std::string& path = request.target.path;
  const auto method = request.raw.method();
  if (is_api_path(path) || (method != beast_http::verb::get && method != beast_http::verb::head))
    return exchange->respond(json_error(beast_http::status::not_found, "not_found",
                                        "no route for " + std::string(request.raw.method_string()) +
                                            " " + path));
  auto it = files_.find(path == "/" ? "/index.html" : path);
  const bool hashed = it != files_.end() && path.starts_with("/assets/");
  if (it == files_.end()) {
    // A missing asset is a real 404; any other path is a page of the single-page app.
    if (path.starts_with("/assets/") || (it = files_.find("/index.html")) == files_.end())
      return exchange->respond(
          json_error(beast_http::status::not_found, "not_found", "no such file: " + path));
  }
  Response response{beast_http::status::ok, 11};
  response.set(beast_http::field::content_type, it->second.content_type);
  response.set(beast_http::field::cache_control,
               hashed ? "public, max-age=31536000, immutable" : "no-cache");
  response.set("X-Content-Type-Options", "nosniff");
  response.body() = it->second.body;  // the session drops it again for HEAD
  response.prepare_payload();
  exchange->respond(std::move(response));
}

}  // namespace ssehub::http
