#pragma once
// One upstream connection (plain TCP or TLS) and what the upstream layer's
// files share about attempts. Internal to the upstream layer: heavy (Asio
// and Beast), included only by its .cpp files.

#include "smart/clock.hpp"
#include "smart/net.hpp"
#include "smart/upstream/outcome.hpp"

#include <optional>

namespace smart::upstream {

// One connection. Its sockets use the io_context's plain executor, not a
// strand: completions run on the executor of whichever coroutine holds the
// connection, and the pool hands a connection to one holder at a time.
struct connection {
  connection(const net::any_io_executor& ex, ssl::context* tls_context);

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  void close();
  // Whether nothing has arrived on this idle connection, not even an end of
  // stream: one non-blocking peek that consumes nothing (see basic_pool).
  bool quiet();
  // Whether TLS holds bytes the last exchange did not use: decrypted ones,
  // or received records not yet decrypted. No system call.
  bool tls_has_unread();

  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  duration handshake{};  // how long the TCP connect took: about one round trip
  bool http2 = false;    // speaks HTTP/2 (negotiated by ALPN, or h2c by configuration)
};

// How soon after the request a failure on a reused connection can still be
// the upstream's close of that idle connection crossing our request: a few
// round trips, estimated by the connection's TCP handshake (which no server
// application delays), and never less than 10 ms. A failure later than that
// came after the upstream took the request.
inline duration stale_window(const connection& c) {
  return std::max<duration>(std::chrono::milliseconds{10}, 3 * c.handshake);
}

inline attempt_result failure(outcome o, error_code ec = {}) {
  attempt_result r;
  r.result = o;
  r.error = ec;
  return r;
}

}  // namespace smart::upstream
