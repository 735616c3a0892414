#pragma once
// The simulator's HTTP server (narrow header; Beast stays in server.cpp).

#include "behaviour.hpp"
#include "protocol.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace smart::sim {

class server {
 public:
  // `body`, when not empty, replaces {"time": <ms>} in successful answers.
  // Throws std::system_error when the TLS files cannot be loaded.
  server(boost::asio::io_context& ioc, behaviour& plan, std::string body = {},
         protocol_options wire = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts accepting; throws std::system_error on failure.
  void start(const std::string& host, std::uint16_t port);
  [[nodiscard]] std::uint16_t port() const;
  // Also served as JSON at GET /stats.
  [[nodiscard]] const sim_stats& stats() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace smart::sim
