#pragma once
// What the upstream client reports about its connections. The service's
// metrics implement it; tests may count with a fake. Called from any I/O
// thread: implementations are thread-safe.

#include <cstdint>

namespace smart::upstream {

// The protocol a connection speaks, as negotiated (ALPN) or configured.
enum class protocol : std::uint8_t { http1, http2 };

class client_stats {
 public:
  virtual void upstream_connection_opened(protocol p) = 0;
  // +1 when an attempt takes a connection (or the right to open one), -1
  // when it gives it back. An HTTP/2 connection holds one from its opening
  // to its end.
  virtual void upstream_connections_in_use(int delta) = 0;
  // A TLS handshake completed: in full, or abbreviated by resuming a session.
  virtual void upstream_tls_handshake(bool resumed) = 0;
  // HTTP/2: +1 when a stream is reserved for an exchange, -1 when it closes.
  virtual void upstream_streams_in_use(int delta) = 0;
  // HTTP/2: a stream we reset (RST_STREAM CANCEL) because its attempt was
  // stopped.
  virtual void upstream_stream_reset() = 0;
  // HTTP/2: the upstream sent GOAWAY.
  virtual void upstream_goaway_received() = 0;

 protected:
  client_stats() = default;
  ~client_stats() = default;
  client_stats(const client_stats&) = default;
  client_stats& operator=(const client_stats&) = default;
};

}  // namespace smart::upstream
