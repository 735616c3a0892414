#pragma once
// The upstream client: one GET to the configured work API per attempt, over a
// pool of keep-alive connections (HTTP or HTTPS), with names resolved in the
// background. Narrow on purpose: the Beast and OpenSSL machinery stays in
// src/upstream (pool rules in pool.hpp, connect, http1, resolver).

#include "smart/config.hpp"
#include "smart/stop.hpp"
#include "smart/upstream/outcome.hpp"
#include "smart/upstream/request_tags.hpp"
#include "smart/upstream/stats.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace smart::upstream {

struct client_options {
  std::string url;  // validated by parse_url
  upstream_http version = upstream_http::automatic;
  int max_connections = 1024;  // open connections at most (idle + leased + connecting)
  std::string extra_ca_file;   // PEM bundle trusted besides the system store
  std::size_t body_limit = 64 * 1024;
  // HTTP/2: a connection with nothing received for this long is sent a PING;
  // one still unanswered after as long again means the connection is gone.
  std::chrono::milliseconds ping_interval{10'000};
};

class client {
 public:
  // Throws std::invalid_argument on a bad URL or CA file (start-up only).
  client(boost::asio::any_io_executor ex, client_options options, client_stats& stats);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts resolving the upstream host name, now and periodically.
  void start();
  // Stops background work and closes idle connections; fetches in progress
  // finish on their own (their requests' deadlines bound them).
  void stop();

  // True once the host name has been resolved at least once.
  [[nodiscard]] bool resolved() const;

  // One attempt. Never throws for upstream reasons: every failure is an
  // outcome. Unbounded in time by itself; the caller bounds it with `stop`
  // (which must outlive the attempt): a stop request, made on the awaiting
  // coroutine's executor, closes the connection in use, so whichever step is
  // running or about to start (waiting for a pooled connection, connect, TLS
  // handshake, write, read) ends at once, and the attempt yields
  // outcome::cancelled.
  // `tags` go to the upstream (X-Request-Id; a traceparent with a span id
  // made for this attempt, under the request's trace; tracestate), so that
  // its logs and traces join ours; what they point to stays valid until the
  // attempt ends (request_tags.hpp).
  boost::asio::awaitable<attempt_result> fetch(stop_signal& stop, request_tags tags = {});

  // Idle pooled connections right now (for tests and diagnostics).
  [[nodiscard]] std::size_t idle_connections() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace smart::upstream
