#pragma once
// The service's metrics (spec §7), one object per process. Every labelled
// series is created in the constructor and kept by handle, so the hooks below
// are a few atomic operations each and safe to call from any thread.

#include "smart/clock.hpp"
#include "smart/edge/route.hpp"
#include "smart/hedge/timeline.hpp"
#include "smart/upstream/outcome.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace smart {

class metrics {
 public:
  // max_attempts bounds the smart_hedge_wins_total{attempt} label.
  explicit metrics(int max_attempts = 3);
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // HTTP edge.
  void request_started();
  void request_finished(edge::route r, unsigned status, duration elapsed);
  void connection_opened();
  void connection_closed();
  void connection_rejected();  // past --max-connections

  // Upstream attempts and connections.
  void attempt_finished(upstream::outcome o, duration elapsed);
  void upstream_connection_opened();
  void upstream_connections_in_use(int delta);

  // Hedging.
  void hedges_fired(hedge::hedge_reason why);
  void won(int attempt);
  // Opt-in hedging refinements (hedge/tuning.hpp).
  void hedges_suppressed(int attempts);
  void hedge_budget_remaining(double attempts);
  void hedge_delay(duration d);

  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;
  // The same, rendered at most once per `max_age`: what /metrics serves. A
  // rendering costs about 0.7 ms of CPU; every scrape within `max_age` of one
  // (or while another is being made) gets that one, so that a flood of
  // scrapes costs next to nothing. 0: each call renders. Any thread.
  [[nodiscard]] std::shared_ptr<const std::string> exposition(
      std::chrono::milliseconds max_age) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace smart
