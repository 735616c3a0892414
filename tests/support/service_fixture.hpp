#pragma once
// Runs the real service in-process on 127.0.0.1 port 0, and reads its metrics.

#include "smart/config.hpp"
#include "smart/service.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace smart::testing {

// Test defaults: loopback, port 0, two I/O threads, no log file, no access
// log, the specification's hedging (300 ms, 2 hedges), and every /metrics
// scrape rendered anew.
config test_config(const std::string& upstream_url);

class running_service {
 public:
  explicit running_service(config cfg);
  ~running_service();
  running_service(const running_service&) = delete;
  running_service& operator=(const running_service&) = delete;

  [[nodiscard]] std::uint16_t port() const { return svc_.port(); }
  smart::service& get() { return svc_; }

  // Graceful shutdown, waiting for it to finish.
  void stop();

  // The value of one series in the metrics exposition (0 when absent), e.g.
  // metric("smart_hedges_total", {{"reason", "failure"}}).
  double metric(std::string_view name,
                std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {});

 private:
  smart::service svc_;
  bool stopped_ = false;
};

using ms = std::chrono::milliseconds;

// A duration in whole milliseconds, for timing assertions.
inline ms millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<ms>(d);
}

// Polls pred (every few milliseconds) until it holds or timeout passes: for
// state outside the test's control, such as a socket being refused.
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds{5});

// Same, over any exposition text.
double metric_value(std::string_view exposition, std::string_view name,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

}  // namespace smart::testing
