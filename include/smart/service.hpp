#pragma once
// The whole service in one object: I/O threads, metrics, the upstream client
// and the HTTP edge. main() and the integration tests both use it.

#include "smart/config.hpp"

#include <cstdint>
#include <memory>

namespace smart {

class metrics;

// Raises the soft limit of open files to the hard limit: every client and
// upstream connection is a descriptor. Returns the limit now in force.
std::uint64_t raise_open_file_limit();

class service {
 public:
  explicit service(config cfg);
  ~service();  // shuts down gracefully and joins, if still running
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // Resolves the upstream, binds the listening socket and starts the I/O
  // threads. Throws std::system_error when the address cannot be bound.
  void start();

  [[nodiscard]] std::uint16_t port() const;
  // The port /metrics is served on: --metrics-listen's, or port().
  [[nodiscard]] std::uint16_t metrics_port() const;

  // SIGINT/SIGTERM start a graceful shutdown; a second one exits at once.
  // SIGHUP reopens the log file (after log rotation moved it away).
  // Called before start(), it takes effect as start() opens the port (after
  // the upstream's first name resolution, during which a signal still ends
  // the process at once), so that no request is ever accepted without it.
  void shutdown_on_signals();

  // Graceful shutdown (spec §5); any thread, returns at once.
  void shutdown();

  // Blocks until every request has been answered and every thread is done.
  void wait();

  [[nodiscard]] const config& settings() const;
  [[nodiscard]] smart::metrics& stats();
  // Idle upstream connections in the pool (for tests).
  [[nodiscard]] std::size_t idle_upstream_connections() const;

 private:
  void install_signal_handlers();
  void await_signal();

  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace smart
