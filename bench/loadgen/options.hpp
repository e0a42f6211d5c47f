#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadgen {

// Everything a run is told on its command line; see usage() for what each one means.
struct Options {
  std::string sse_url;
  uint32_t streams = 0;
  uint32_t users = 0;  // 0: one user per stream
  uint64_t user_offset = 0;
  uint32_t threads = 2;
  uint32_t connect_concurrency = 128;
  double connect_timeout_s = 60;
  bool http2 = false;                   // h2c with prior knowledge
  uint32_t streams_per_connection = 100;  // HTTP/2 streams multiplexed on one connection
  std::string source_addresses = "127.0.0.2-127.0.0.254";
  std::vector<pid_t> server_pids;
  double settle_s = 1;

  std::string pub_url;
  std::string pub_body = "r={r};t={t};n={n}";
  std::vector<std::string> pub_headers;
  int64_t pub_user = -1;  // -1: a random user for each message
  // > 0: each request carries this many messages as a JSON array of {"username", "message"}
  // (ssehub's POST /v2/messages), each to its own random user named by pub_batch_user.
  uint32_t pub_batch = 0;
  std::string pub_batch_user = "u{n}";
  uint32_t pub_connections = 8;
  double pub_rate = 0;  // messages per second; 0: as fast as the connections allow
  double pub_duration_s = 10;
  uint64_t pub_count = 0;  // 0: no limit but the duration
  double drain_s = 5;

  double hold_s = 0;
  std::string ready_file;
  std::string go_file;  // publishing waits for it
  // Every delivery slower than slow_ms, as "<send time, steady ns> <latency ns>" lines: slow
  // deliveries that come in episodes, not spread over the run, point at a stall.
  std::string slow_log;
  double slow_ms = 1.0;
  std::string label;
  uint64_t run_id = 0;  // 0: random
  bool progress = true;
  bool strict = false;  // exit non-zero on any error, loss, misrouting or duplicate
};

const char* usage();

// A --pub-header "Name: value" as HTTP/2 sends it: the name in lower case, the value without
// the blanks after the colon. Throws std::invalid_argument without a name and a colon.
std::pair<std::string, std::string> split_header_line(std::string_view line);

// Throws std::invalid_argument on a bad or unknown flag; returns false for --help.
bool parse_options(int argc, char** argv, Options& out);

}  // namespace loadgen
