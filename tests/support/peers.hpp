#pragma once
// Independent HTTP/2 servers for the upstream client's tests: Debian's nginx
// (TLS or plain, proxying to a fake upstream) and nghttpd (serving a file).
// Each is listening when its constructor returns, and is killed when the
// object goes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace smart::testing {

struct tls_identity;
class child_process;

struct nginx_options {
  const tls_identity* tls = nullptr;   // TLS (ALPN h2 and http/1.1), or plain h2c
  std::uint16_t proxy_to = 0;          // the fake upstream's port
  int max_concurrent_streams = 128;    // http2_max_concurrent_streams
  int requests_per_connection = 1000;  // keepalive_requests: then GOAWAY
};

class nginx_server {
 public:
  explicit nginx_server(const nginx_options& options);
  ~nginx_server();
  nginx_server(const nginx_server&) = delete;
  nginx_server& operator=(const nginx_server&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // https://127.0.0.1:<port>/api/work (or http://)
  [[nodiscard]] std::string url() const;
  // Ends the server at once (SIGKILL): its connections are lost, not closed.
  void kill();

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  int pid_ = -1;
};

struct nghttpd_options {
  const tls_identity* tls = nullptr;    // TLS (ALPN h2 only), or plain h2c
  std::string body = R"({"time": 7})";  // served at /api/work
  int max_concurrent_streams = 100;
  bool verbose = false;  // -v: every frame it receives is printed
};

class nghttpd_server {
 public:
  explicit nghttpd_server(const nghttpd_options& options);
  ~nghttpd_server();
  nghttpd_server(const nghttpd_server&) = delete;
  nghttpd_server& operator=(const nghttpd_server&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url() const;
  // With `verbose`: waits until a line of its output contains `needle`.
  bool printed(const std::string& needle, std::chrono::milliseconds timeout);

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  std::unique_ptr<child_process> process_;
};

}  // namespace smart::testing
