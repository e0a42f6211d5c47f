// ssehub: reads its configuration, runs the server until SIGINT or SIGTERM, and stops it.
// SIGHUP reloads the TLS certificate.

#include "app/server.hpp"
#include "config/config.hpp"

#include <spdlog/spdlog.h>

#include <csignal>

using namespace ssehub;

int main(int argc, char** argv) {
  auto outcome = config::load_config(argc, argv);
  if (!outcome.config) return outcome.exit_code;
  const config::Config config = std::move(*outcome.config);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // Signals are taken by the main thread alone (sigwait below); every thread started from
  // here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    app::Server server(config);
    int signal = 0;
    // The certificate files are read here, on the main thread: the I/O threads never wait.
    while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) server.reload_certificate();
    spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("ssehub cannot start: {}", e.what());
    return 1;
  }
}
