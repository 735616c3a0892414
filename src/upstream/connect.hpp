#pragma once
// Opening an upstream connection: TCP to one of the upstream's addresses,
// then, for https, the TLS handshake with SNI and certificate verification.
// Internal to the upstream layer.

#include "connection.hpp"

#include "smart/stop.hpp"
#include "smart/upstream/stats.hpp"
#include "smart/upstream/url.hpp"

#include <optional>
#include <string>
#include <vector>

namespace smart::upstream {

class connector {
 public:
  // Throws std::invalid_argument when `extra_ca_file` cannot be loaded.
  connector(const url& target, const std::string& extra_ca_file, client_stats& stats);

  // The TLS context new connections use; null for plain HTTP.
  ssl::context* tls_context() { return tls_context_ ? &*tls_context_ : nullptr; }

  // Connects c (made with tls_context()) to the first address that answers.
  // Success, or a failure outcome; cancelled once `stop` is requested (the
  // caller closes the connection to end a step in progress).
  net::awaitable<attempt_result> open(connection& c, const std::vector<tcp::endpoint>& endpoints,
                                      stop_signal& stop);

 private:
  std::string host_;
  bool host_is_address_ = false;
  std::optional<ssl::context> tls_context_;
  client_stats& stats_;
};

}  // namespace smart::upstream
