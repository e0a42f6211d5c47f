#pragma once

#include "http/exchange.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace ssehub::http {

using Handler = std::function<void(const ExchangePtr&)>;

// Exact-path routing. Unknown path: the fallback (static files) or 404; known path with
// another method: 405 with Allow; OPTIONS on a known path: the CORS preflight answer.
class Router {
 public:
  void add(beast_http::verb method, std::string path, Handler handler);
  void set_fallback(Handler handler) { fallback_ = std::move(handler); }
  void dispatch(const ExchangePtr& exchange) const;

 private:
  std::map<std::string, std::map<beast_http::verb, Handler>, std::less<>> routes_;
  Handler fallback_;
};

}  // namespace ssehub::http
