#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace smart::testing {

namespace {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::system_error{errno, std::generic_category(), "socket"};
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error{err, std::generic_category(), "connect"};
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : fd_{connect_to(port)} {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

http_connection::~http_connection() {
  close();
}

void http_connection::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void http_connection::shutdown_send() {
  ::shutdown(fd_, SHUT_WR);
}

void http_connection::send_and_shutdown(const std::string& bytes) {
  // Corked, the data and the FIN leave in one segment.
  int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  send(bytes);
  ::shutdown(fd_, SHUT_WR);
}

void http_connection::send(const std::string& bytes) {
  sent_ = std::chrono::steady_clock::now();
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) {
      throw std::system_error{errno, std::generic_category(), "send"};
    }
    done += static_cast<std::size_t>(n);
  }
}

void http_connection::get(const std::string& target, const std::string& extra_headers,
                          const std::string& method) {
  send(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n");
}

std::optional<http_response> http_connection::read_response(bool head_request) {
  auto fill = [this]() -> bool {
    char buf[8192];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end = 0;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      return std::nullopt;
    }
  }
  http_response r;
  const std::string head = pending_.substr(0, end);
  pending_.erase(0, end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.rfind("HTTP/1.", 0) != 0) {
    throw std::runtime_error{"bad status line: " + status_line};
  }
  r.status = std::stoi(status_line.substr(9, 3));
  while (line_end != std::string::npos) {
    const auto next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(
        line_end + 2, next == std::string::npos ? std::string::npos : next - line_end - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[lower(line.substr(0, colon))] = value;
    }
    line_end = next;
  }
  const std::size_t length =
      head_request ? 0
                   : static_cast<std::size_t>(std::stoul(
                         r.header("content-length").empty() ? "0" : r.header("content-length")));
  while (pending_.size() < length) {
    if (!fill()) {
      return std::nullopt;
    }
  }
  r.body = pending_.substr(0, length);
  pending_.erase(0, length);
  r.elapsed = std::chrono::steady_clock::now() - sent_;
  return r;
}

bool http_connection::closed_by_server(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    return false;
  }
  char c = 0;
  const auto n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

http_response get(std::uint16_t port, const std::string& target, const std::string& extra_headers,
                  const std::string& method) {
  http_connection c{port};
  c.get(target, extra_headers, method);
  auto r = c.read_response(method == "HEAD");
  if (!r) {
    throw std::runtime_error{"no response to " + method + " " + target};
  }
  return *r;
}

bool can_connect(std::uint16_t port) {
  try {
    http_connection c{port};
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

}  // namespace smart::testing
