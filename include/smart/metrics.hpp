#pragma once
// The service's metrics (spec §7), one object per process: what every layer
// reports through its own stats interface, kept in prometheus-cpp series and
// rendered for /metrics. Every labelled series is created in the constructor
// and kept by handle, so the hooks are a few atomic operations each and safe
// to call from any thread.

#include "smart/clock.hpp"
#include "smart/edge/stats.hpp"
#include "smart/hedge/race.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/upstream/stats.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace smart {

class metrics final : public edge::edge_stats,
                      public hedge::race_stats,
                      public hedge::tuning_stats,
                      public upstream::client_stats {
 public:
  // max_attempts bounds the smart_hedge_wins_total{attempt} label.
  explicit metrics(int max_attempts = 3);
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // HTTP edge.
  void request_started() override;
  void request_finished(edge::route r, unsigned status, duration elapsed) override;
  void connection_opened() override;
  void connection_closed() override;
  void connection_rejected() override;

  // Upstream attempts and connections.
  void attempt_finished(upstream::outcome o, duration elapsed) override;
  void upstream_connection_opened(upstream::protocol p) override;
  void upstream_connections_in_use(int delta) override;
  void upstream_tls_handshake(bool resumed) override;
  void upstream_streams_in_use(int delta) override;
  void upstream_stream_reset() override;
  void upstream_goaway_received() override;

  // Hedging, and its opt-in refinements (hedge/tuning.hpp).
  void hedges_fired(hedge::hedge_reason why) override;
  void won(int attempt) override;
  void hedges_suppressed(int attempts) override;
  void hedge_budget_remaining(double attempts) override;
  void hedge_delay(duration d) override;

  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;
  // The same, rendered at most once per `max_age`: what /metrics serves. A
  // rendering costs about 0.7 ms of CPU; every scrape within `max_age` of one
  // (or while another is being made) gets that one, so that a flood of
  // scrapes costs next to nothing. 0: each call renders.
  [[nodiscard]] std::shared_ptr<const std::string> exposition(
      std::chrono::milliseconds max_age) const override;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace smart
