#pragma once
// How upstream-sim speaks on the wire: TLS, HTTP/2 and its faults, and the
// counters that show what happened. Light: no Asio, no nghttp2.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace smart::sim {

enum class http2_mode : std::uint8_t {
  off,   // HTTP/1.1 only
  on,    // HTTP/2 by ALPN over TLS, h2c by the connection preface; HTTP/1.1 otherwise
  only,  // HTTP/2 only: other connections are refused (closed, or a TLS alert)
};

struct protocol_options {
  std::string tls_cert;  // PEM files; both set: every connection is TLS
  std::string tls_key;
  http2_mode http2 = http2_mode::on;
  std::uint32_t h2_max_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t h2_goaway_after = 0;   // GOAWAY after this many streams on a connection (0: never)
  // Bytes of each /api/work response body sent before the stream stalls for
  // good, as one whose flow-control window is never reopened (unset: none).
  std::optional<std::uint32_t> h2_stall_window;

  [[nodiscard]] bool tls() const { return !tls_cert.empty(); }
};

// What connection a client got, once TLS and the protocol are settled.
enum class wire : std::uint8_t { http1, http1_tls, h2, h2c };
inline constexpr std::size_t wire_kinds = 4;

// Counters for tests and diagnostics (GET /stats); any thread.
struct sim_stats {
  struct per_wire {
    std::atomic<std::uint64_t> opened{0};
    std::atomic<std::uint64_t> open{0};
  };
  per_wire connections[wire_kinds];
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> refused_connections{0};  // the protocol was not allowed
  std::atomic<std::uint64_t> work_requests{0};        // GET /api/work, either protocol
  // HTTP/2 streams:
  std::atomic<std::uint64_t> streams{0};                  // requests received on a stream
  std::atomic<std::uint64_t> peak_open_streams{0};        // most open at once on one connection
  std::atomic<std::uint64_t> streams_cancelled{0};        // RST_STREAM(CANCEL) received
  std::atomic<std::uint64_t> streams_reset_by_client{0};  // RST_STREAM received, any code
  std::atomic<std::uint64_t> streams_reset{0};    // RST_STREAM(INTERNAL_ERROR) sent: the plan
  std::atomic<std::uint64_t> streams_refused{0};  // RST_STREAM(REFUSED_STREAM) sent
  std::atomic<std::uint64_t> streams_stalled{0};  // bodies held by --h2-stall-window
  std::atomic<std::uint64_t> goaways_sent{0};
  std::atomic<std::uint64_t> goaways_received{0};

  void opened(wire w) {
    connections[static_cast<std::size_t>(w)].opened.fetch_add(1, std::memory_order_relaxed);
    connections[static_cast<std::size_t>(w)].open.fetch_add(1, std::memory_order_relaxed);
  }
  void closed(wire w) {
    connections[static_cast<std::size_t>(w)].open.fetch_sub(1, std::memory_order_relaxed);
  }
  void open_streams(std::uint64_t n) {
    auto peak = peak_open_streams.load(std::memory_order_relaxed);
    while (n > peak &&
           !peak_open_streams.compare_exchange_weak(peak, n, std::memory_order_relaxed)) {
    }
  }

  // One JSON object with every counter (see README: The upstream simulator).
  [[nodiscard]] std::string to_json() const;
};

class behaviour;

// What every connection of one server shares. Connections hold it by
// shared_ptr, so it outlives them.
struct site {
  site(behaviour& b, std::string body, protocol_options w)
      : plan{b}, fixed_body{std::move(body)}, wire{std::move(w)} {}
  behaviour& plan;
  const std::string fixed_body;  // replaces {"time": <ms>} in successes when not empty
  const protocol_options wire;
  sim_stats stats;
};

inline void count(std::atomic<std::uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace smart::sim
