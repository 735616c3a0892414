#pragma once
// The latency histograms of /metrics: buckets fixed at start-up, observed
// with relaxed atomic adds only, so that no mutex sits on the request path
// (prometheus::Histogram takes one per observation).

#include "smart/clock.hpp"

#include <prometheus/client_metric.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace smart::metrics_detail {

// 1 ms to 60 s, dense around the 100-600 ms of the upstream and the 300 ms
// hedge delay.
constexpr std::array<double, 26> latency_bounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3,  0.35, 0.4,
    0.45,  0.5,    0.6,   0.75, 1.0,   1.5,  2.0, 2.5,  5.0, 10.0, 20.0, 30.0, 60.0};

// One histogram series; collect() makes its Prometheus form at scrape time.
class latency_histogram {
 public:
  latency_histogram() {
    for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
      bounds_ns_[i] = static_cast<std::int64_t>(latency_bounds[i] * 1e9 + 0.5);
    }
  }

  void observe(duration d) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds_ns_.begin(), bounds_ns_.end(), ns) - bounds_ns_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns > 0 ? static_cast<std::uint64_t>(ns) : 0, std::memory_order_relaxed);
  }

  [[nodiscard]] prometheus::ClientMetric collect(std::string label, std::string value) const {
    prometheus::ClientMetric m;
    m.label.push_back({std::move(label), std::move(value)});
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      m.histogram.bucket.push_back({cumulative, i < latency_bounds.size()
                                                    ? latency_bounds[i]
                                                    : std::numeric_limits<double>::infinity()});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return m;
  }

 private:
  std::array<std::int64_t, latency_bounds.size()> bounds_ns_{};
  std::array<std::atomic<std::uint64_t>, latency_bounds.size() + 1> counts_{};  // + the +Inf bucket
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace smart::metrics_detail
