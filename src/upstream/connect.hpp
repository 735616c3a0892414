#pragma once
// Opening an upstream connection: TCP to one of the upstream's addresses,
// then, for https, the TLS handshake with SNI and certificate verification,
// resuming a session the upstream gave us when it can. Internal to the
// upstream layer.

#include "connection.hpp"

#include "smart/config.hpp"
#include "smart/stop.hpp"
#include "smart/upstream/stats.hpp"
#include "smart/upstream/url.hpp"

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using SSL_SESSION = struct ssl_session_st;

namespace smart::upstream {

// TLS sessions the upstream issued (tickets), for abbreviated handshakes on
// later connections. A TLS 1.3 ticket is used once (RFC 8446 §C.4: reusing
// one lets an observer link connections); the server sends new ones on every
// connection. A TLS 1.2 session may serve many connections. Thread-safe.
class tls_sessions {
 public:
  tls_sessions() = default;
  tls_sessions(const tls_sessions&) = delete;
  tls_sessions& operator=(const tls_sessions&) = delete;
  ~tls_sessions();

  // Keeps s (the reference passes to the store); the oldest goes past the
  // bound.
  void add(SSL_SESSION* s);
  // A session to resume, with a reference for the caller; null if none.
  SSL_SESSION* take();
  [[nodiscard]] std::size_t size() const;

 private:
  // Enough for a burst of new connections; tickets arrive two per full
  // handshake and one per resumed one with OpenSSL's defaults.
  static constexpr std::size_t bound = 64;
  mutable std::mutex mu_;
  std::deque<SSL_SESSION*> sessions_;  // the newest last
};

class connector {
 public:
  // Throws std::invalid_argument when `extra_ca_file` cannot be loaded.
  connector(const url& target, upstream_http version, const std::string& extra_ca_file,
            client_stats& stats);

  // The TLS context new connections use; null for plain HTTP.
  ssl::context* tls_context() { return tls_context_ ? &*tls_context_ : nullptr; }

  // Connects c (made with tls_context()) to the first address that answers;
  // c.http2 says whether it speaks HTTP/2 (what ALPN chose on TLS; prior
  // knowledge on plain TCP when configured).
  // Success, or a failure outcome; cancelled once `stop` is requested (the
  // caller closes the connection to end a step in progress).
  net::awaitable<attempt_result> open(connection& c, const std::vector<tcp::endpoint>& endpoints,
                                      stop_signal& stop);

 private:
  std::string host_;
  bool host_is_address_ = false;
  upstream_http version_;
  std::optional<ssl::context> tls_context_;
  // Behind a pointer: OpenSSL's new-session callback finds it through the
  // context, which keeps the address.
  std::unique_ptr<tls_sessions> sessions_ = std::make_unique<tls_sessions>();
  client_stats& stats_;
};

}  // namespace smart::upstream
