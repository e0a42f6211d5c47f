#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

namespace ssehub::metrics {
namespace {

enum class Protocol { Http1, Http2 };

TEST(MetricsTest, GaugeFamilyRendersOneSeriesPerLabelValueInOrder) {
  Registry registry;
  GaugeFamily& open = registry.gauges("test_streams_open", "Streams, by protocol.", "protocol", {"http/1.1", "h2"});
  open[Protocol::Http2].add(3);
  open[Protocol::Http1].add(2);
  open[Protocol::Http2].add(-1);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE test_streams_open gauge\n"
                      "test_streams_open{protocol=\"http/1.1\"} 2\n"
                      "test_streams_open{protocol=\"h2\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(registry.value("test_streams_open", "protocol=\"h2\""), 2);
  // No unlabelled series beside the labelled ones (a sum would count twice).
  EXPECT_EQ(registry.value("test_streams_open"), std::nullopt);
}

TEST(MetricsTest, CounterFamilyCountsEachLabelValueApart) {
  Registry registry;
  CounterFamily& requests = registry.counters("test_requests_total", "Requests.", "protocol", {"http/1.1", "h2"});
  requests[Protocol::Http1].add();
  requests[Protocol::Http1].add(4);
  EXPECT_EQ(registry.value("test_requests_total", "protocol=\"http/1.1\""), 5);
  EXPECT_EQ(registry.value("test_requests_total", "protocol=\"h2\""), 0);
  EXPECT_NE(registry.render().find("# TYPE test_requests_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace ssehub::metrics
