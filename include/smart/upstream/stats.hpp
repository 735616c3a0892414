#pragma once
// What the upstream client reports about its connections. The service's
// metrics implement it; tests may count with a fake. Called from any I/O
// thread: implementations are thread-safe.

namespace smart::upstream {

class client_stats {
 public:
  virtual void upstream_connection_opened() = 0;
  // +1 when an attempt takes a connection (or the right to open one), -1
  // when it gives it back.
  virtual void upstream_connections_in_use(int delta) = 0;
  // A TLS handshake completed: in full, or abbreviated by resuming a session.
  virtual void upstream_tls_handshake(bool resumed) = 0;

 protected:
  client_stats() = default;
  ~client_stats() = default;
  client_stats(const client_stats&) = default;
  client_stats& operator=(const client_stats&) = default;
};

}  // namespace smart::upstream
