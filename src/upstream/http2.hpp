#pragma once
// HTTP/2 to the upstream: one session per connection, many exchanges on it
// at once, each a stream. The protocol is nghttp2's; the Asio integration
// (a read loop and a write pump on the session's strand) is ours. Internal
// to the upstream layer.

#include "connection.hpp"
#include "request_fields.hpp"

#include "smart/stop.hpp"
#include "smart/upstream/stats.hpp"
#include "smart/upstream/url.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace smart::upstream {

// What every request on the upstream's sessions says, and how the sessions
// watch their connections.
struct http2_request {
  http2_request(const url& target, std::size_t body_limit, std::chrono::milliseconds ping_interval);
  std::string scheme;
  std::string authority;
  std::string path;
  std::string user_agent;
  std::size_t body_limit;
  std::chrono::milliseconds ping_interval;
};

class http2_session : public std::enable_shared_from_this<http2_session> {
 public:
  // Starts a session on `c`, an open connection that speaks HTTP/2 (TLS
  // with h2 by ALPN, or plain for prior knowledge). On the session's strand,
  // `on_freed` runs each time a stream is released, and `on_end` once, when
  // the connection is gone.
  using end_fn = std::function<void(const http2_session&)>;
  static std::shared_ptr<http2_session> start(const net::any_io_executor& ex,
                                              std::unique_ptr<connection> c, http2_request request,
                                              client_stats& stats, std::function<void()> on_freed,
                                              end_fn on_end);
  ~http2_session();
  http2_session(const http2_session&) = delete;
  http2_session& operator=(const http2_session&) = delete;

  // Reserves a stream for one exchange: false when the session no longer
  // takes requests (closing, or the server sent GOAWAY) or the server's
  // SETTINGS_MAX_CONCURRENT_STREAMS are in use. Any thread.
  bool reserve();

  // One exchange on a reserved stream, with the attempt's `fields` (copied:
  // the submission runs on the session's strand), from the attempt's executor. `retry`
  // is set when the server did not process the request (REFUSED_STREAM, or
  // beyond a GOAWAY's last stream, or never sent): it may go to another
  // connection. A stop request resets the stream (RST_STREAM CANCEL) and
  // yields outcome::cancelled at once; the connection stays in use.
  net::awaitable<attempt_result> exchange(const request_fields& fields, stop_signal& stop,
                                          bool& retry);

  // Runs `ready` (on the strand) once the server's first SETTINGS have
  // arrived, so that its stream limit is known, or the session has ended;
  // at once if that has happened already. Any thread.
  void when_ready(std::function<void()> ready);

  // Ends the session: every stream on it fails at once. Any thread.
  void close();

  // Streams reserved or open right now (for tests and diagnostics).
  [[nodiscard]] int streams() const { return reserved_.load(std::memory_order_relaxed); }

  struct call;
  struct engine;

 private:
  friend struct http2_callbacks;
  // On the strand:
  void submit(const std::shared_ptr<call>& c);
  void cancel(const std::shared_ptr<call>& c);
  void finish(const std::shared_ptr<call>& c);
  void flush();
  void end(error_code why);
  net::awaitable<void> write_loop();
  net::awaitable<void> read_loop();
  net::awaitable<void> ping_loop();

  http2_session(const net::any_io_executor& ex, std::unique_ptr<connection> c,
                http2_request request, client_stats& stats, std::function<void()> on_freed,
                end_fn on_end);

  std::unique_ptr<engine> engine_;
  std::atomic<int> reserved_{0};
  std::atomic<int> max_streams_{100};  // until the server's SETTINGS say (RFC 9113 §6.5.2)
  std::atomic<bool> accepting_{true};
};

// The live sessions of one upstream, shared by all I/O threads.
class http2_sessions {
 public:
  // A session with a stream reserved on it, or null.
  std::shared_ptr<http2_session> reserve();
  void add(std::shared_ptr<http2_session> s);
  void remove(const http2_session* s);
  void close_all();
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<http2_session>> live_;
};

}  // namespace smart::upstream
