#pragma once
// An in-process, scripted stand-in for the upstream work API, on 127.0.0.1
// port 0, plain or TLS. Each request gets the next scripted reply, in arrival
// order; what the fake saw (requests, connections, closes by the client) can
// be asserted afterwards. Runs on its own thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace smart::testing {

struct tls_identity;

struct reply {
  enum class kind {
    respond,         // status + body (Content-Length), keep-alive
    reset,           // abortive close (RST) instead of an answer
    hang,            // no answer; holds the connection until the client closes it
    close,           // orderly close (FIN) without an answer
    raw,             // `raw` bytes as they are, then close
    raw_then_reset,  // `raw` bytes as they are, then an abortive close (RST)
    trickle,         // `raw` bytes one at a time, `interval` apart, then close
  };

  kind what = kind::respond;
  std::chrono::milliseconds delay{0};  // before acting
  unsigned status = 200;
  std::string body = R"({"time": 10})";
  std::string raw;
  std::chrono::milliseconds interval{0};
  bool close_after = false;  // respond: close the connection after the answer
  // respond: keep the connection, then close it after this much idle time
  // (an upstream's keep-alive timeout); zero: never.
  std::chrono::milliseconds close_idle_after{0};
  // respond: bytes sent before the response (interim 1xx responses), and how
  // long before it.
  std::string interim;
  std::chrono::milliseconds interim_lead{0};
  // respond: bytes sent after the response (a stale tail), in the same write
  // or this long after it.
  std::string trailing;
  std::chrono::milliseconds trailing_after{0};
  // respond: the body is {"time": 10, "id": "<the request's X-Request-Id>"}.
  bool echo_id = false;

  static reply ok(int delay_ms, std::string body = R"({"time": 10})");
  static reply status_code(unsigned status, int delay_ms = 0, std::string body = "error");
  static reply reset_after(int delay_ms);
  static reply hang_up();
  static reply close_after_ms(int delay_ms);
  static reply raw_bytes(std::string bytes, int delay_ms = 0);
  static reply trickle(std::string bytes, int interval_ms);
};

class fake_upstream {
 public:
  // Plain HTTP, or TLS with the given server identity.
  explicit fake_upstream(const tls_identity* tls = nullptr);
  ~fake_upstream();
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  // http(s)://127.0.0.1:<port>/api/work
  [[nodiscard]] std::string url() const;

  // Every new connection is answered with these bytes at once, then closed,
  // before any request is read (e.g. not TLS where TLS is expected).
  void greet_and_close(std::string bytes);

  // Replies for the next requests, in arrival order; then `fallback`.
  void script(std::vector<reply> replies);
  void fallback(reply r);

  // Observations.
  [[nodiscard]] int requests() const;
  [[nodiscard]] int connections() const;       // accepted
  [[nodiscard]] int closed_by_client() const;  // connections the client closed (EOF or reset)
  [[nodiscard]] int open_connections() const;  // accepted and not closed yet
  [[nodiscard]] int tails_sent() const;        // `trailing` bytes sent after a delay
  [[nodiscard]] std::string last_request_head() const;
  [[nodiscard]] std::vector<std::string> request_heads() const;  // every one, in arrival order

  // Waits until pred() holds (re-checked on every event), up to timeout.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds{10}) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace smart::testing
