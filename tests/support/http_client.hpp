#pragma once
// A small blocking HTTP/1.1 client on POSIX sockets, for driving the service
// in tests. Every read has a timeout, so a broken server fails a test instead
// of hanging it.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace smart::testing {

struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::chrono::steady_clock::duration elapsed{};  // from sending the request to the last byte

  [[nodiscard]] std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

class http_connection {
 public:
  explicit http_connection(std::uint16_t port,
                           std::chrono::milliseconds timeout = std::chrono::seconds{30});
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  // Sends raw bytes.
  void send(const std::string& bytes);
  // Closes the sending side (a half-close): the server sees an end of stream.
  void shutdown_send();
  // Sends `bytes` and the end of stream in one TCP segment.
  void send_and_shutdown(const std::string& bytes);
  // Sends "GET <target>" with the given extra header lines (each ending in \r\n).
  void get(const std::string& target, const std::string& extra_headers = "",
           const std::string& method = "GET");
  // Reads one response; nothing when the connection closed or timed out first.
  std::optional<http_response> read_response(bool head_request = false);
  // True when the server has closed the connection (EOF or reset) within timeout.
  bool closed_by_server(std::chrono::milliseconds timeout);
  void close();

 private:
  int fd_ = -1;
  std::string pending_;
  std::chrono::steady_clock::time_point sent_{};
};

// One request on a fresh connection.
http_response get(std::uint16_t port, const std::string& target,
                  const std::string& extra_headers = "", const std::string& method = "GET");

// Whether a TCP connection to the port is accepted.
bool can_connect(std::uint16_t port);

}  // namespace smart::testing
