#pragma once
// Counts what the race, the hedging refinements and the upstream client
// report, in place of the service's metrics: tests of those layers need no
// Prometheus.

#include "smart/hedge/race.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/upstream/stats.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace smart::testing {

class counting_stats final : public hedge::race_stats,
                             public hedge::tuning_stats,
                             public upstream::client_stats {
 public:
  void attempt_finished(upstream::outcome o, duration /*elapsed*/) override {
    ++attempts_[static_cast<std::size_t>(o)];
  }
  void hedges_fired(hedge::hedge_reason why) override { ++hedges_[static_cast<std::size_t>(why)]; }
  void won(int attempt) override { ++wins_[static_cast<std::size_t>(attempt)]; }
  void hedges_suppressed(int attempts) override { suppressed_ += attempts; }
  void hedge_budget_remaining(double attempts) override { budget_remaining_ = attempts; }
  void hedge_delay(duration d) override { hedge_delay_ = d.count(); }
  void upstream_connection_opened(upstream::protocol p) override {
    ++opened_;
    if (p == upstream::protocol::http2) {
      ++opened_h2_;
    }
  }
  void upstream_connections_in_use(int delta) override { in_use_ += delta; }
  void upstream_tls_handshake(bool resumed) override { ++handshakes_[resumed ? 1 : 0]; }
  void upstream_streams_in_use(int delta) override { streams_ += delta; }
  void upstream_stream_reset() override { ++resets_; }
  void upstream_goaway_received() override { ++goaways_; }

  [[nodiscard]] int attempts(upstream::outcome o) const {
    return attempts_[static_cast<std::size_t>(o)];
  }
  [[nodiscard]] int hedges(hedge::hedge_reason why) const {
    return hedges_[static_cast<std::size_t>(why)];
  }
  [[nodiscard]] int wins(int attempt) const { return wins_[static_cast<std::size_t>(attempt)]; }
  [[nodiscard]] int suppressed() const { return suppressed_; }
  [[nodiscard]] double budget_remaining() const { return budget_remaining_; }
  [[nodiscard]] duration hedge_delay() const { return duration{hedge_delay_.load()}; }
  [[nodiscard]] int connections_opened() const { return opened_; }
  [[nodiscard]] int connections_in_use() const { return in_use_; }
  [[nodiscard]] int tls_handshakes(bool resumed) const { return handshakes_[resumed ? 1 : 0]; }
  [[nodiscard]] int http2_connections_opened() const { return opened_h2_; }
  [[nodiscard]] int streams_in_use() const { return streams_; }
  [[nodiscard]] int streams_reset() const { return resets_; }
  [[nodiscard]] int goaways() const { return goaways_; }

 private:
  std::array<std::atomic<int>, upstream::all_outcomes.size()> attempts_{};
  std::array<std::atomic<int>, 2> hedges_{};
  std::array<std::atomic<int>, hedge::max_attempts + 1> wins_{};
  std::atomic<int> suppressed_{0};
  std::atomic<double> budget_remaining_{0};
  std::atomic<duration::rep> hedge_delay_{0};
  std::atomic<int> opened_{0};
  std::atomic<int> in_use_{0};
  std::array<std::atomic<int>, 2> handshakes_{};
  std::atomic<int> opened_h2_{0};
  std::atomic<int> streams_{0};
  std::atomic<int> resets_{0};
  std::atomic<int> goaways_{0};
};

}  // namespace smart::testing
