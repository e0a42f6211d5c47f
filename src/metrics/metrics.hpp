#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssehub::metrics {

// A monotonically increasing count. Relaxed atomics: exposition needs no ordering.
class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::int64_t> value_{0};
};

// Fixed buckets in seconds, Prometheus-style cumulative on exposition.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1,
                                                     0.25,   0.5,     1.0,    2.5};
  void observe(std::chrono::nanoseconds elapsed);
  void render(std::string& out, std::string_view name) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Gauges whose label values are known only at run time (Kafka partitions): set by one
// thread, read at scrape time. Labels are rendered as given: `topic="t",partition="0"`.
class LabeledGauges {
 public:
  void set(const std::string& labels, std::int64_t value);
  // Replaces every series at once (series no longer set disappear).
  void replace(std::map<std::string, std::int64_t> series);
  void render(std::string& out, std::string_view name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::int64_t> series_;
};

// One counter or gauge per value of a label known in advance (`reason`, `protocol`): index it
// with the enum whose values the labels name, in order.
template <class Metric>
class Family {
 public:
  Family(std::string label, std::vector<std::string> values)
      : label_(std::move(label)), values_(std::move(values)), metrics_(values_.size()) {}
  template <class Enum>
  Metric& operator[](Enum value) { return metrics_.at(static_cast<std::size_t>(value)); }
  void render(std::string& out, std::string_view name) const;

 private:
  std::string label_;
  std::vector<std::string> values_;
  std::deque<Metric> metrics_;
};
using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;

// Every metric of the process. Each component registers its own (name and help text where
// the component is), at start-up, before any thread updates them; updates then take no lock.
// /metrics renders them in the order they were registered.
class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  LatencyHistogram& histogram(std::string name, std::string help);
  LabeledGauges& labeled_gauges(std::string name, std::string help);
  CounterFamily& counters(std::string name, std::string help, std::string label,
                          std::vector<std::string> values);
  GaugeFamily& gauges(std::string name, std::string help, std::string label,
                      std::vector<std::string> values);
  // Values read at scrape time (the heap, a library's memory): `render` appends complete
  // series, HELP and TYPE lines included.
  void collect(std::function<void(std::string& out)> render);

  std::string render() const;
  // A series' value as /metrics would show it (`labels` as `reason="timeout"`); for tests.
  std::optional<double> value(std::string_view name, std::string_view labels = {}) const;

 private:
  struct Entry {
    std::string name, help;
    const char* type;
    std::function<void(std::string& out, std::string_view name)> render;
  };
  void add(std::string name, std::string help, const char* type,
           std::function<void(std::string&, std::string_view)> render);
  // A counter or a gauge: one series, its value as is.
  template <class Metric>
  Metric& single(std::deque<Metric>& store, std::string name, std::string help, const char* type);

  mutable std::mutex mutex_;  // registration only
  std::vector<Entry> entries_;
  // Deques: what they hold never moves, so the references handed out stay valid.
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<LatencyHistogram> histograms_;
  std::deque<LabeledGauges> labeled_gauges_;
  std::deque<CounterFamily> families_;
  std::deque<GaugeFamily> gauge_families_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// The value of one series in Prometheus text: HELP, TYPE and the line.
void render_value(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value);

}  // namespace ssehub::metrics
