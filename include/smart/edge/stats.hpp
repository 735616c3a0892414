#pragma once
// What the HTTP edge reports, and what it serves at /metrics. The service's
// metrics implement it. Called from any I/O thread: implementations are
// thread-safe.

#include "smart/clock.hpp"
#include "smart/edge/route.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace smart::edge {

class edge_stats {
 public:
  virtual void request_started() = 0;
  virtual void request_finished(route r, unsigned status, duration elapsed) = 0;
  virtual void connection_opened() = 0;
  virtual void connection_closed() = 0;
  virtual void connection_rejected() = 0;  // past --max-connections

  // The body of /metrics: rendered at most once per `max_age` (0: each call
  // renders).
  [[nodiscard]] virtual std::shared_ptr<const std::string> exposition(
      std::chrono::milliseconds max_age) const = 0;

 protected:
  edge_stats() = default;
  ~edge_stats() = default;
  edge_stats(const edge_stats&) = default;
  edge_stats& operator=(const edge_stats&) = default;
};

}  // namespace smart::edge
