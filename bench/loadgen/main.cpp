#include <csignal>
#include <cstdio>
#include <exception>

#include "json_line.hpp"
#include "options.hpp"
#include "runner.hpp"

namespace {

void on_signal(int) {
  loadgen::g_interrupted.store(true);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  loadgen::Options opts;
  try {
    if (!loadgen::parse_options(argc, argv, opts)) {
      std::fputs(loadgen::usage(), stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssehub-loadgen: %s\n\n%s", e.what(), loadgen::usage());
    return 2;
  }
  try {
    loadgen::RunOutcome outcome = loadgen::run_load(opts);
    std::printf("%s\n", outcome.json.c_str());
    if (opts.strict && !outcome.strict_failure.empty()) {
      std::fprintf(stderr, "ssehub-loadgen%s%s: FAILED: %s\n", opts.label.empty() ? "" : " ",
                   opts.label.c_str(), outcome.strict_failure.c_str());
      return 4;
    }
    return 0;
  } catch (const loadgen::Refused& e) {
    std::printf("%s\n",
                loadgen::JsonLine().add("label", opts.label).add("error", e.what()).str().c_str());
    std::fprintf(stderr, "ssehub-loadgen: refused: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    std::printf("%s\n",
                loadgen::JsonLine().add("label", opts.label).add("error", e.what()).str().c_str());
    std::fprintf(stderr, "ssehub-loadgen: %s\n", e.what());
    return 1;
  }
}
