#include "runner.hpp"

#include <arpa/inet.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "json_line.hpp"
#include "worker.hpp"

namespace loadgen {

std::atomic<bool> g_interrupted{false};

namespace {

// File descriptors the process needs besides its sockets: stdio, epoll and eventfd per
// thread, /proc reads, the ready file, with room to spare.
constexpr uint64_t kFdMargin = 64;

uint64_t raise_fd_limit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

std::vector<sockaddr_in> parse_sources(std::string_view spec) {
  std::vector<sockaddr_in> out;
  if (spec.empty() || spec == "none") return out;
  size_t dash = spec.find('-');
  std::string first(spec.substr(0, dash));
  std::string last(dash == std::string_view::npos ? spec : spec.substr(dash + 1));
  in_addr a{}, b{};
  if (inet_pton(AF_INET, first.c_str(), &a) != 1 || inet_pton(AF_INET, last.c_str(), &b) != 1 ||
      ntohl(a.s_addr) > ntohl(b.s_addr)) {
    throw std::invalid_argument("--source-addresses: expected FIRST-LAST IPv4 addresses");
  }
  for (uint32_t ip = ntohl(a.s_addr); ip <= ntohl(b.s_addr); ++ip) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(ip);
    out.push_back(sa);
  }
  return out;
}

// Sum of VmRSS over the processes in kB; -1 if any cannot be read.
int64_t read_rss_kb(const std::vector<pid_t>& pids) {
  if (pids.empty()) return -1;
  int64_t total = 0;
  for (pid_t pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    bool found = false;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        total += std::stoll(line.substr(6));
        found = true;
        break;
      }
    }
    if (!found) return -1;
  }
  return total;
}

// CPU time used so far by the processes (all their threads), user and system apart, in
// seconds; {-1, -1} if any cannot be read. Read around the publish phase, it gives what a
// delivery costs each side: on a machine the client shares with the server, the rate a server
// reaches is bounded by the sum.
struct CpuTime {
  double user_s = -1, system_s = -1;
};
CpuTime read_cpu_time(const std::vector<pid_t>& pids) {
  if (pids.empty()) return {};
  const double tick = double(sysconf(_SC_CLK_TCK));
  CpuTime total{0, 0};
  for (pid_t pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return {};
    // After the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int number = 3; number <= 15 && fields >> field; ++number) {
      if (number == 14) utime = std::stoull(field);
      if (number == 15) stime = std::stoull(field);
    }
    total.user_s += double(utime) / tick;
    total.system_s += double(stime) / tick;
  }
  return total;
}

// Sleeps in short steps until done() holds, the deadline passes or the run is interrupted.
template <class Done>
void wait_until(int64_t deadline_ns, Done&& done) {
  while (!done() && steady_ns() < deadline_ns && !g_interrupted.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int64_t seconds_ns(double s) {
  return int64_t(s * 1e9);
}
double ms(uint64_t ns) {
  return double(ns) / 1e6;
}

}  // namespace

RunOutcome run_load(const Options& opts) {
  const bool publishing = !opts.pub_url.empty();
  const uint32_t pub_connections = publishing ? opts.pub_connections : 0;
  const uint64_t fd_limit = raise_fd_limit();
  // Over HTTP/2 a socket carries up to --streams-per-connection streams (per thread, so one
  // partly filled connection per thread).
  const uint64_t stream_sockets =
      opts.http2 ? (opts.streams + opts.streams_per_connection - 1) / opts.streams_per_connection +
                       opts.threads
                 : opts.streams;
  if (stream_sockets + pub_connections + kFdMargin > fd_limit) {
    throw Refused(
        "--streams " + std::to_string(opts.streams) + " plus " + std::to_string(pub_connections) +
        " publisher connections exceed RLIMIT_NOFILE " + std::to_string(fd_limit) +
        " minus a margin of " + std::to_string(kFdMargin) + "; at most " +
        std::to_string(
            fd_limit > kFdMargin + pub_connections ? fd_limit - kFdMargin - pub_connections : 0) +
        " streams fit in one process");
  }
  if (opts.pub_user >= 0 && publishing &&
      (uint64_t(opts.pub_user) < opts.user_offset ||
       uint64_t(opts.pub_user) >= opts.user_offset + opts.users)) {
    throw std::invalid_argument(
        "--pub-user must be one of the streams' users (offset .. offset+users-1)");
  }

  Shared shared;
  shared.opts = opts;
  if (!opts.slow_log.empty()) {
    shared.slow_log.reset(std::fopen(opts.slow_log.c_str(), "w"));
    if (!shared.slow_log)
      throw std::invalid_argument("--slow-log: cannot open " + opts.slow_log + ": " +
                                  std::strerror(errno));
    shared.slow_ns = uint64_t(opts.slow_ms * 1e6);
  }
  if (!opts.sse_url.empty()) shared.sse = UrlTemplate::parse(opts.sse_url);
  if (publishing) {
    shared.pub = UrlTemplate::parse(opts.pub_url);
    shared.pub_body = TextTemplate(opts.pub_body);
    shared.pub_batch_user = TextTemplate(opts.pub_batch_user);
    bool has_type = false;
    for (const std::string& h : opts.pub_headers) {
      if (h.size() >= 13 && strncasecmp(h.c_str(), "content-type:", 13) == 0) has_type = true;
      shared.pub_extra_headers += h + "\r\n";
      shared.pub_h2_headers.push_back(split_header_line(h));
    }
    if (!has_type) {
      shared.pub_extra_headers += "Content-Type: text/plain\r\n";
      shared.pub_h2_headers.emplace_back("content-type", "text/plain");
    }
  }
  shared.sources = parse_sources(opts.source_addresses);
  shared.run_id = opts.run_id != 0
                      ? opts.run_id
                      : (std::random_device{}() | (uint64_t(std::random_device{}()) << 32)) %
                                1'000'000'000'000ull +
                            1;
  shared.open_per_user = std::make_unique<std::atomic<uint32_t>[]>(opts.users);

  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t w = 0; w < opts.threads; ++w) {
    uint32_t pubs = pub_connections / opts.threads + (w < pub_connections % opts.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(shared, w, opts.threads, pubs));
  }
  auto sum = [&](Counter WorkerStats::*field) {
    uint64_t total = 0;
    for (auto& w : workers) total += (w->stats().*field).get();
    return total;
  };
  auto latest = [&](MaxValue WorkerStats::*field) {
    int64_t v = 0;
    for (auto& w : workers) v = std::max(v, (w->stats().*field).get());
    return v;
  };
  auto set_phase = [&](Phase p) {
    shared.phase.store(p, std::memory_order_release);
    for (auto& w : workers) w->wake();
  };
  auto progress = [&](const char* fmt, auto... args) {
    if (!opts.progress) return;
    std::fprintf(stderr, "[loadgen %s] ", opts.label.c_str());
    std::fprintf(stderr, fmt, args...);
    std::fputc('\n', stderr);
  };

  const int64_t rss_idle_kb = read_rss_kb(opts.server_pids);

  // Phase 1: open the streams.
  const int64_t connect_start = steady_ns();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  auto settled = [&] {
    return sum(&WorkerStats::established) + sum(&WorkerStats::connect_errors) +
               sum(&WorkerStats::status_errors) + sum(&WorkerStats::protocol_errors) +
               sum(&WorkerStats::timeouts) >=
           opts.streams;
  };
  int64_t connect_deadline = connect_start + seconds_ns(opts.connect_timeout_s);
  int64_t next_report = connect_start + 1'000'000'000;
  while (!settled() && !g_interrupted.load()) {
    int64_t now = steady_ns();
    if (now >= connect_deadline) {
      shared.give_up_connecting.store(true, std::memory_order_release);
      for (auto& w : workers) w->wake();
      wait_until(now + 2'000'000'000, settled);
      break;
    }
    if (now >= next_report) {
      progress("open %llu/%u", (unsigned long long)sum(&WorkerStats::established), opts.streams);
      next_report += 1'000'000'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  shared.give_up_connecting.store(true, std::memory_order_release);
  set_phase(Phase::Open);
  const uint64_t opened = sum(&WorkerStats::established);
  const int64_t last_open = latest(&WorkerStats::last_established_ns);
  const double connect_s = opened > 0 ? double(last_open - connect_start) / 1e9 : 0.0;
  progress("opened %llu/%u streams in %.2f s", (unsigned long long)opened, opts.streams, connect_s);

  // Phase 2: server memory with the streams open.
  int64_t rss_open_kb = -1;
  if (!opts.server_pids.empty()) {
    wait_until(steady_ns() + seconds_ns(opts.settle_s), [] { return false; });
    rss_open_kb = read_rss_kb(opts.server_pids);
  }
  if (!opts.ready_file.empty()) std::ofstream(opts.ready_file) << opened << "\n";
  if (!opts.go_file.empty())
    wait_until(INT64_MAX, [&] { return std::ifstream(opts.go_file).good(); });

  // Phase 3: publish, then wait for the deliveries.
  int64_t publish_start = 0;
  CpuTime server_cpu_before, server_cpu_after, client_cpu_before, client_cpu_after;
  if (publishing && !g_interrupted.load()) {
    server_cpu_before = read_cpu_time(opts.server_pids);
    client_cpu_before = read_cpu_time({getpid()});
    publish_start = steady_ns() + 2'000'000;
    shared.publish_start_ns.store(publish_start);
    shared.publish_end_ns.store(publish_start + seconds_ns(opts.pub_duration_s));
    set_phase(Phase::Publishing);
    auto all_done = [&] {
      for (auto& w : workers) {
        if (!w->publishing_done()) return false;
      }
      return true;
    };
    wait_until(publish_start + seconds_ns(opts.pub_duration_s + opts.drain_s), all_done);
    progress("published %llu messages, waiting for %llu deliveries",
             (unsigned long long)sum(&WorkerStats::published),
             (unsigned long long)sum(&WorkerStats::expected));
    wait_until(steady_ns() + seconds_ns(opts.drain_s),
               [&] { return sum(&WorkerStats::matched) >= sum(&WorkerStats::expected); });
    server_cpu_after = read_cpu_time(opts.server_pids);
    client_cpu_after = read_cpu_time({getpid()});
  }

  // Phase 4: hold the streams (e.g. while another process measures the server).
  if (opts.hold_s > 0) wait_until(steady_ns() + seconds_ns(opts.hold_s), [] { return false; });

  set_phase(Phase::Stopping);
  for (auto& t : threads) t.join();

  Histogram latency, connect, rtt;
  int first_status_error = 0;
  for (auto& w : workers) {
    latency.merge(w->stats().latency_ns);
    connect.merge(w->stats().connect_ns);
    rtt.merge(w->stats().publish_rtt_ns);
    if (first_status_error == 0) first_status_error = w->stats().first_status_error;
  }
  const uint64_t expected = sum(&WorkerStats::expected);
  const uint64_t matched = sum(&WorkerStats::matched);
  const uint64_t published = sum(&WorkerStats::published);
  const uint64_t errors_connect = sum(&WorkerStats::connect_errors);
  const uint64_t errors_status = sum(&WorkerStats::status_errors);
  const uint64_t errors_protocol = sum(&WorkerStats::protocol_errors);
  const uint64_t errors_closed = sum(&WorkerStats::closed);
  const uint64_t errors_timeout = sum(&WorkerStats::timeouts);
  const uint64_t errors_publish =
      sum(&WorkerStats::publish_errors) + sum(&WorkerStats::publish_unanswered);

  JsonLine j;
  j.add("label", opts.label)
      .add("run_id", shared.run_id)
      .add("rlimit_nofile", fd_limit)
      .add("threads", opts.threads)
      .add("protocol", opts.http2 ? "h2c" : "http/1.1")
      .add("streams_per_connection", opts.http2 ? opts.streams_per_connection : 1)
      .add("streams", opts.streams)
      .add("users", opts.users)
      .add("open", opened)
      .add("connect_s", connect_s)
      .add("connect_rate", connect_s > 0 ? double(opened) / connect_s : 0.0)
      .add("connect_p50_ms", ms(connect.quantile(0.50)))
      .add("connect_p99_ms", ms(connect.quantile(0.99)))
      .add("rss_idle_kb", rss_idle_kb)
      .add("rss_open_kb", rss_open_kb)
      .add("rss_per_stream_b", rss_idle_kb >= 0 && rss_open_kb >= 0 && opened > 0
                                   ? double(rss_open_kb - rss_idle_kb) * 1024.0 / double(opened)
                                   : -1.0);
  if (publishing) {
    const int64_t last_pub = latest(&WorkerStats::last_published_ns);
    const int64_t last_recv = latest(&WorkerStats::last_matched_ns);
    const double publish_s =
        last_pub > publish_start ? double(last_pub - publish_start) / 1e9 : 0.0;
    const double deliver_s =
        last_recv > publish_start ? double(last_recv - publish_start) / 1e9 : 0.0;
    j.add("published", published)
        .add("publish_s", publish_s)
        .add("publish_rate", publish_s > 0 ? double(published) / publish_s : 0.0)
        .add("publish_rtt_p50_ms", ms(rtt.quantile(0.50)))
        .add("publish_rtt_p99_ms", ms(rtt.quantile(0.99)))
        .add("expected", expected)
        .add("received", matched)
        .add("lost", expected > matched ? expected - matched : uint64_t(0))
        .add("extra", matched > expected ? matched - expected : uint64_t(0))
        .add("misrouted", sum(&WorkerStats::misrouted))
        .add("deliveries_per_s", deliver_s > 0 ? double(matched) / deliver_s : 0.0)
        .add("lat_p50_ms", ms(latency.quantile(0.50)))
        .add("lat_p90_ms", ms(latency.quantile(0.90)))
        .add("lat_p99_ms", ms(latency.quantile(0.99)))
        .add("lat_p999_ms", ms(latency.quantile(0.999)))
        .add("lat_max_ms", ms(latency.max()))
        .add("lat_mean_ms", latency.mean() / 1e6);
    // Microseconds of CPU per delivery, from just before publishing to the last delivery
    // (or the end of the drain); -1 when not measured.
    auto per_delivery_us = [&](double before, double after) {
      return before >= 0 && after >= 0 && matched > 0 ? (after - before) * 1e6 / double(matched)
                                                      : -1.0;
    };
    j.add("server_cpu_user_us", per_delivery_us(server_cpu_before.user_s, server_cpu_after.user_s))
        .add("server_cpu_system_us",
             per_delivery_us(server_cpu_before.system_s, server_cpu_after.system_s))
        .add("client_cpu_us", per_delivery_us(client_cpu_before.user_s + client_cpu_before.system_s,
                                              client_cpu_after.user_s + client_cpu_after.system_s));
  }
  j.add("events", sum(&WorkerStats::events))
      .add("foreign_events", sum(&WorkerStats::foreign))
      .add("err_connect", errors_connect)
      .add("err_status", errors_status)
      .add("first_bad_status", first_status_error)
      .add("err_protocol", errors_protocol)
      .add("err_closed", errors_closed)
      .add("err_timeout", errors_timeout)
      .add("err_publish", errors_publish)
      .add("errors", errors_connect + errors_status + errors_protocol + errors_closed +
                         errors_timeout + errors_publish)
      .add("interrupted", g_interrupted.load());

  std::string why;
  auto fail = [&](const std::string& reason) { why += (why.empty() ? "" : "; ") + reason; };
  if (opened < opts.streams) fail(std::to_string(opts.streams - opened) + " streams did not open");
  if (errors_closed > 0) fail(std::to_string(errors_closed) + " streams closed by the server");
  if (errors_publish > 0) fail(std::to_string(errors_publish) + " publish requests failed");
  if (publishing && opts.pub_count > 0 && published < opts.pub_count) {
    fail("only " + std::to_string(published) + " of " + std::to_string(opts.pub_count) +
         " messages published");
  }
  if (expected > matched) fail(std::to_string(expected - matched) + " deliveries lost");
  if (matched > expected)
    fail(std::to_string(matched - expected) + " deliveries more than expected");
  if (sum(&WorkerStats::misrouted) > 0)
    fail(std::to_string(sum(&WorkerStats::misrouted)) + " events reached another user");
  if (errors_protocol > 0) fail(std::to_string(errors_protocol) + " protocol errors");
  if (g_interrupted.load()) fail("interrupted");
  return {j.str(), why};
}

}  // namespace loadgen
