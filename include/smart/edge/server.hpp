#pragma once
// The HTTP edge: accepts connections, reads requests, runs the routes and
// writes responses. Narrow on purpose; the Beast machinery is in server.cpp.

#include "smart/hedge/race.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace smart {
struct config;
}  // namespace smart

namespace smart::edge {

class edge_stats;

// Which routes a listener answers; the others are 404 there.
enum class listener_role {
  all,    // every route, on --host/--port (when there is no --metrics-listen)
  api,    // every route but /metrics, on --host/--port
  admin,  // /metrics, /healthz and /readyz, on --metrics-listen
};

class server {
 public:
  // `attempt` runs one upstream attempt; cfg, stats, race_stats and tuning
  // must outlive the server.
  server(boost::asio::io_context& ioc, const config& cfg, edge_stats& stats,
         hedge::race_stats& race_stats, hedge::attempt_fn attempt, hedge::hedge_tuning& tuning,
         listener_role role = listener_role::all);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds, listens and starts accepting. Throws std::invalid_argument when
  // the host name does not resolve (naming the option), std::system_error
  // when the address cannot be bound.
  void start();

  // The bound port (useful with port 0).
  [[nodiscard]] std::uint16_t port() const;

  // Graceful shutdown (spec §5), from any thread: stop accepting, answer
  // /readyz with 503, close idle connections, let requests in flight finish
  // and close their connections after the response. The io_context runs out
  // of work once the last one is done.
  void shutdown();

  [[nodiscard]] bool ready() const;

  // Called once (on the I/O threads) when a shutdown has finished draining:
  // the last connection is closed. Set before start().
  void on_drained(std::function<void()> callback);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace smart::edge
