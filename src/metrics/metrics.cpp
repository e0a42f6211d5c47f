#include "metrics/metrics.hpp"


#include <fmt/format.h>
#include <sys/resource.h>

#include <cstddef>
#include <filesystem>

// The heap gauges ask the allocator the binary uses (CMakeLists.txt): tcmalloc, or under the
// sanitizers theirs.
#ifdef SSEHUB_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#else
// The sanitizers' runtimes (GCC's and clang's) export these; GCC ships no header for them.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
extern "C" std::size_t __sanitizer_get_free_bytes();
#endif

namespace ssehub::metrics {

namespace {

struct HeapFigures {
  double in_use = 0;      // allocated and not freed
  double kept_free = 0;   // freed, and still held by the allocator
};

HeapFigures heap_figures() {
#ifdef SSEHUB_TCMALLOC
  std::size_t allocated = 0, heap = 0, unmapped = 0;
  MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &allocated);
  MallocExtension_GetNumericProperty("generic.heap_size", &heap);
  MallocExtension_GetNumericProperty("tcmalloc.pageheap_unmapped_bytes", &unmapped);
  const std::size_t held = heap > unmapped ? heap - unmapped : 0;
  return {static_cast<double>(allocated),
          static_cast<double>(held > allocated ? held - allocated : 0)};
#else
  return {static_cast<double>(__sanitizer_get_current_allocated_bytes()),
          static_cast<double>(__sanitizer_get_free_bytes())};
#endif
}

}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())),
                    std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, std::string_view name) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name,
                     static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name,
                     cumulative);
}

void LabeledGauges::set(const std::string& labels, std::int64_t value) {
  std::lock_guard lock(mutex_);
  series_[labels] = value;
}

void LabeledGauges::replace(std::map<std::string, std::int64_t> series) {
  std::lock_guard lock(mutex_);
  series_ = std::move(series);
}

void LabeledGauges::render(std::string& out, std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [labels, value] : series_) out += fmt::format("{}{{{}}} {}\n", name, labels, value);
}

template <class Metric>
void Family<Metric>::render(std::string& out, std::string_view name) const {
  for (std::size_t i = 0; i < values_.size(); ++i)
    out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label_, values_[i], metrics_[i].value());
}
template class Family<Counter>;
template class Family<Gauge>;

Registry::Registry() {
  // The process itself: where its memory goes and how many descriptors it holds.
  collect([](std::string& out) {
    const HeapFigures heap = heap_figures();
    render_value(out, "ssehub_heap_in_use_bytes", "gauge", "Heap bytes allocated and not freed.",
                 heap.in_use);
    render_value(out, "ssehub_heap_free_bytes", "gauge",
                 "Heap bytes freed but kept by the allocator (its caches, fragmentation).",
                 heap.kept_free);
    std::error_code ec;
    double open_fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++open_fds;
    render_value(out, "process_open_fds", "gauge", "Open file descriptors.", open_fds);
    struct rlimit limit {};
    getrlimit(RLIMIT_NOFILE, &limit);
    render_value(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                 static_cast<double>(limit.rlim_cur));
  });
}

void Registry::add(std::string name, std::string help, const char* type,
                   std::function<void(std::string&, std::string_view)> render) {
  entries_.push_back({std::move(name), std::move(help), type, std::move(render)});
}

template <class Metric>
Metric& Registry::single(std::deque<Metric>& store, std::string name, std::string help, const char* type) {
  std::lock_guard lock(mutex_);
  Metric& metric = store.emplace_back();
  add(std::move(name), std::move(help), type, [&metric](std::string& out, std::string_view name) {
    out += fmt::format("{} {}\n", name, metric.value());
  });
  return metric;
}

Counter& Registry::counter(std::string name, std::string help) {
  return single(counters_, std::move(name), std::move(help), "counter");
}

Gauge& Registry::gauge(std::string name, std::string help) {
  return single(gauges_, std::move(name), std::move(help), "gauge");
}

LatencyHistogram& Registry::histogram(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  LatencyHistogram& histogram = histograms_.emplace_back();
  add(std::move(name), std::move(help), "histogram",
      [&histogram](std::string& out, std::string_view name) { histogram.render(out, name); });
  return histogram;
}

LabeledGauges& Registry::labeled_gauges(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  LabeledGauges& gauges = labeled_gauges_.emplace_back();
  add(std::move(name), std::move(help), "gauge",
      [&gauges](std::string& out, std::string_view name) { gauges.render(out, name); });
  return gauges;
}

CounterFamily& Registry::counters(std::string name, std::string help, std::string label,
                                  std::vector<std::string> values) {
  std::lock_guard lock(mutex_);
  CounterFamily& family = families_.emplace_back(std::move(label), std::move(values));
  add(std::move(name), std::move(help), "counter",
      [&family](std::string& out, std::string_view name) { family.render(out, name); });
  return family;
}

GaugeFamily& Registry::gauges(std::string name, std::string help, std::string label,
                             std::vector<std::string> values) {
  std::lock_guard lock(mutex_);
  GaugeFamily& family = gauge_families_.emplace_back(std::move(label), std::move(values));
  add(std::move(name), std::move(help), "gauge",
      [&family](std::string& out, std::string_view name) { family.render(out, name); });
  return family;
}

void Registry::collect(std::function<void(std::string& out)> render) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(render));
}

void render_value(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

std::string Registry::render() const {
  std::string out;
  out.reserve(8192);
  for (const Entry& entry : entries_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", entry.name, entry.help, entry.name, entry.type);
    entry.render(out, entry.name);
  }
  for (const auto& collect : collectors_) collect(out);
  return out;
}

std::optional<double> Registry::value(std::string_view name, std::string_view labels) const {
  const std::string text = render();
  const std::string series = labels.empty() ? std::string(name) : fmt::format("{}{{{}}}", name, labels);
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const std::size_t end = text.find('\n', at);
      return std::stod(text.substr(at + series.size() + 1, end - at - series.size() - 1));
    }
    at += series.size();
  }
  return std::nullopt;
}

}  // namespace ssehub::metrics
