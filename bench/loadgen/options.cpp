#include "options.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace loadgen {

const char* usage() {
  return R"(ssehub-loadgen: opens SSE streams, publishes messages, measures, prints one JSON line.

Streams
  --sse-url URL             http://HOST:PORT/PATH?QUERY; {n} is replaced by the stream's user
  --streams N               number of streams to open
  --users U                 distinct users (stream i is user offset + i % U); default N, 1 = all one user
  --user-offset O           first user index (default 0)
  --threads T               worker threads, each with its own epoll (default 2)
  --connect-concurrency C   streams being opened at once (default 128); over HTTP/2 a
                            connection with all its streams starts while fewer are pending
  --connect-timeout S       seconds for all streams to get their response headers (default 60)
  --http2                   speak HTTP/2 (h2c with prior knowledge) to the server, for the
                            streams and the publishers alike
  --streams-per-connection K  HTTP/2: SSE streams multiplexed on one connection (default 100,
                            ssehub's --http2-max-streams default); publishers keep one
                            request in flight per connection, as over HTTP/1.1
  --source-addresses A-B    bind streams round-robin to these loopback addresses
                            (default 127.0.0.2-127.0.0.254; "none" to not bind)
  --server-pid P[,P...]     processes whose VmRSS is summed before and after opening streams
  --settle S                seconds to wait after opening before reading VmRSS (default 1)

Publishing (only with --pub-url)
  --pub-url URL             POST target; {n} user, {t} send time (steady ns), {r} run id, {seq}
  --pub-body TEXT           body template (default "r={r};t={t};n={n}"); receivers read r= t= n=
  --pub-header "K: V"       extra request header (repeatable)
  --pub-user N              always publish to user N (default: a random user of the streams)
  --pub-batch K             K messages per request, as a JSON array of {"username","message"}
                            (ssehub's POST /v2/messages); each to a random user
  --pub-batch-user TEXT     username template of a batch message (default "u{n}")
  --pub-connections K       keep-alive publisher connections (default 8)
  --pub-rate R              messages per second over all connections; 0 = as fast as possible
  --pub-duration S          publishing stops after S seconds (default 10)
  --pub-count M             ... or after M messages (default: no limit)
  --drain S                 seconds to wait for outstanding deliveries afterwards (default 5)

Other
  --hold S                  keep the streams open S seconds before exiting (default 0)
  --ready-file PATH         created once the streams are open and VmRSS was read
  --go-file PATH            publishing waits until PATH exists (e.g. a profiler is switched on)
  --slow-log PATH           write each delivery slower than --slow-ms as "SENT_NS LATENCY_NS"
                            (steady clock), to see whether slow ones come in episodes
  --slow-ms MS              threshold of --slow-log (default 1)
  --label TEXT              copied into the JSON result
  --run-id R                id put in messages (default random)
  --quiet                   no progress lines on stderr
  --strict                  exit 4 unless every stream opened and stayed open, every message
                            was accepted and every delivery arrived once at the right stream
)";
}

namespace {

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) {
    throw std::invalid_argument(std::string(flag) + ": not a number: " + std::string(text));
  }
  return value;
}

std::vector<pid_t> parse_pids(std::string_view text) {
  std::vector<pid_t> pids;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view one = text.substr(0, comma);
    if (!one.empty()) pids.push_back(parse_number<pid_t>("--server-pid", one));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return pids;
}

}  // namespace

std::pair<std::string, std::string> split_header_line(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw std::invalid_argument("--pub-header: expected \"Name: value\", got \"" +
                                std::string(line) + "\"");
  }
  std::string name(line.substr(0, colon));
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  return {std::move(name), std::string(value)};
}

bool parse_options(int argc, char** argv, Options& out) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_inline_value = false;
    if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    if (arg == "--help" || arg == "-h") return false;
    if (arg == "--quiet") {
      out.progress = false;
      continue;
    }
    if (arg == "--strict") {
      out.strict = true;
      continue;
    }
    if (arg == "--http2") {
      out.http2 = true;
      continue;
    }
    if (!has_inline_value) {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    if (arg == "--sse-url")
      out.sse_url = value;
    else if (arg == "--streams")
      out.streams = parse_number<uint32_t>(arg, value);
    else if (arg == "--users")
      out.users = parse_number<uint32_t>(arg, value);
    else if (arg == "--user-offset")
      out.user_offset = parse_number<uint64_t>(arg, value);
    else if (arg == "--threads")
      out.threads = parse_number<uint32_t>(arg, value);
    else if (arg == "--connect-concurrency")
      out.connect_concurrency = parse_number<uint32_t>(arg, value);
    else if (arg == "--connect-timeout")
      out.connect_timeout_s = parse_number<double>(arg, value);
    else if (arg == "--streams-per-connection")
      out.streams_per_connection = parse_number<uint32_t>(arg, value);
    else if (arg == "--source-addresses")
      out.source_addresses = value;
    else if (arg == "--server-pid")
      out.server_pids = parse_pids(value);
    else if (arg == "--settle")
      out.settle_s = parse_number<double>(arg, value);
    else if (arg == "--pub-url")
      out.pub_url = value;
    else if (arg == "--pub-body")
      out.pub_body = value;
    else if (arg == "--pub-header") {
      split_header_line(value);  // refuses a line without "Name:" now, not after opening streams
      out.pub_headers.emplace_back(value);
    }
    else if (arg == "--pub-batch")
      out.pub_batch = parse_number<uint32_t>(arg, value);
    else if (arg == "--pub-batch-user")
      out.pub_batch_user = value;
    else if (arg == "--pub-user")
      out.pub_user = parse_number<int64_t>(arg, value);
    else if (arg == "--pub-connections")
      out.pub_connections = parse_number<uint32_t>(arg, value);
    else if (arg == "--pub-rate")
      out.pub_rate = parse_number<double>(arg, value);
    else if (arg == "--pub-duration")
      out.pub_duration_s = parse_number<double>(arg, value);
    else if (arg == "--pub-count")
      out.pub_count = parse_number<uint64_t>(arg, value);
    else if (arg == "--drain")
      out.drain_s = parse_number<double>(arg, value);
    else if (arg == "--hold")
      out.hold_s = parse_number<double>(arg, value);
    else if (arg == "--ready-file")
      out.ready_file = value;
    else if (arg == "--go-file")
      out.go_file = value;
    else if (arg == "--slow-log")
      out.slow_log = value;
    else if (arg == "--slow-ms")
      out.slow_ms = parse_number<double>(arg, value);
    else if (arg == "--label")
      out.label = value;
    else if (arg == "--run-id")
      out.run_id = parse_number<uint64_t>(arg, value);
    else
      throw std::invalid_argument("unknown flag " + std::string(arg));
  }
  if (out.sse_url.empty() && out.pub_url.empty()) {
    throw std::invalid_argument("nothing to do: give --sse-url and/or --pub-url");
  }
  if (out.threads == 0) throw std::invalid_argument("--threads must be at least 1");
  if (out.streams_per_connection == 0)
    throw std::invalid_argument("--streams-per-connection must be at least 1");
  if (out.connect_concurrency == 0)
    throw std::invalid_argument("--connect-concurrency must be at least 1");
  if (!out.pub_url.empty() && out.pub_connections == 0) {
    throw std::invalid_argument("--pub-connections must be at least 1");
  }
  // Bounded so that its nanoseconds fit the 64-bit threshold (and NaN or inf are refused).
  if (!(out.slow_ms >= 0 && out.slow_ms <= 1e9))
    throw std::invalid_argument("--slow-ms must be from 0 to 1e9");
  if (out.users == 0) out.users = out.streams == 0 ? 1 : out.streams;
  return true;
}

}  // namespace loadgen
