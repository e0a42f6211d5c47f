#pragma once

#include "http/router.hpp"
#include "metrics/metrics.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ssehub::api {

// Liveness, readiness and metrics endpoints for operators and orchestrators.
class OpsApi {
 public:
  using ReadinessCheck = std::pair<std::string, std::function<bool()>>;

  OpsApi(metrics::Registry& metrics, std::vector<ReadinessCheck> checks)
      : metrics_(metrics), checks_(std::move(checks)) {}
  void register_routes(http::Router& router);

 private:
  metrics::Registry& metrics_;
  std::vector<ReadinessCheck> checks_;
};

}  // namespace ssehub::api
