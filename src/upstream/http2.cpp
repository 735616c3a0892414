#include "http2.hpp"

#include "smart/build_info.hpp"
#include "smart/upstream/payload.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

namespace smart::upstream {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

constexpr std::size_t read_chunk = 16 * 1024;
// Frames are gathered up to this size before one write.
constexpr std::size_t write_batch = 16 * 1024;

// HTTP/2 error codes (RFC 9113 §7) as error codes, for logs. (Boost's
// error_category has a protected non-virtual destructor by design: categories
// are never deleted through it.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class http2_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "http2"; }
  std::string message(int code) const override {
    return nghttp2_http2_strerror(static_cast<std::uint32_t>(code));
  }
};
#pragma GCC diagnostic pop

const boost::system::error_category& http2_category() {
  static const http2_category_impl category;
  return category;
}

error_code http2_error(std::uint32_t code) {
  return {static_cast<int>(code), http2_category()};
}

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 takes non-const pointers but does not write through them.
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

}  // namespace

http2_request::http2_request(const url& target, std::size_t limit, std::chrono::milliseconds ping)
    : scheme{target.tls ? "https" : "http"},
      authority{target.host_header()},
      path{target.target},
      user_agent{"smart-api/" + std::string{build_info::version()}},
      body_limit{limit},
      ping_interval{ping} {}

// One exchange: made on the attempt's executor, completed on the session's
// strand. The strand writes the result, then wakes the attempt by a post to
// its executor, which orders the reads after the writes.
struct http2_session::call {
  explicit call(const net::any_io_executor& ex) : done{ex, time_point::max()} {}

  net::steady_timer done;  // on the attempt's executor; cancelled to wake it
  // Copies of the attempt's fields: the submission may run after the attempt ends.
  std::string request_id;
  std::string traceparent;
  std::string tracestate;
  std::atomic<bool> abandoned{false};  // the attempt was stopped
  // On the strand until `done` is woken:
  attempt_result result;
  bool retry = false;
  bool over_limit = false;
  std::int32_t stream_id = 0;
  bool finished = false;
};

// Everything on the session's strand.
struct http2_session::engine {
  engine(const net::any_io_executor& ex, std::unique_ptr<connection> c, http2_request r,
         client_stats& s, std::function<void()> freed, http2_session::end_fn end)
      : strand{net::make_strand(ex)},
        conn{std::move(c)},
        request{std::move(r)},
        stats{s},
        on_freed{std::move(freed)},
        on_end{std::move(end)},
        ping_timer{strand} {}

  ~engine() {
    if (h2 != nullptr) {
      nghttp2_session_del(h2);
    }
  }

  net::strand<net::any_io_executor> strand;
  std::unique_ptr<connection> conn;
  const http2_request request;
  client_stats& stats;
  std::function<void()> on_freed;
  http2_session::end_fn on_end;
  std::function<void()> on_ready;
  bool settings_received = false;
  nghttp2_session* h2 = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<call>> streams;
  std::array<std::uint8_t, read_chunk> in{};
  std::vector<std::uint8_t> out;
  net::steady_timer ping_timer;
  bool writing = false;
  bool closed = false;
  bool active_since_ping = false;
  bool ping_unanswered = false;
};

namespace {

using session_engine = http2_session::engine;

// The callbacks find the session through nghttp2's user data.
http2_session* session_of(void* user) {
  return static_cast<http2_session*>(user);
}

}  // namespace

// ---------------------------------------------------------------------------
// nghttp2 callbacks (on the strand, inside mem_recv / mem_send)

struct http2_callbacks {
  static int on_header(nghttp2_session* /*h2*/, const nghttp2_frame* frame,
                       const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                       std::size_t valuelen, std::uint8_t /*flags*/, void* user) {
    auto& e = *session_of(user)->engine_;
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || std::memcmp(name, ":status", 7) != 0) {
      return 0;
    }
    const auto it = e.streams.find(frame->hd.stream_id);
    if (it == e.streams.end() || valuelen != 3) {
      return 0;  // nghttp2 has checked the value is three digits
    }
    const unsigned code = (value[0] - '0') * 100U + (value[1] - '0') * 10U + (value[2] - '0');
    if (code >= 200) {
      it->second->result.status = code;  // 1xx: interim, the final one follows
    }
    return 0;
  }

  static int on_data(nghttp2_session* h2, std::uint8_t /*flags*/, std::int32_t stream_id,
                     const std::uint8_t* data, std::size_t len, void* user) {
    auto& e = *session_of(user)->engine_;
    const auto it = e.streams.find(stream_id);
    if (it == e.streams.end()) {
      return 0;
    }
    auto& c = *it->second;
    if (c.over_limit) {
      return 0;
    }
    if (c.result.body.size() + len > e.request.body_limit) {
      c.over_limit = true;
      c.result.body.clear();
      nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      return 0;
    }
    c.result.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_stream_close(nghttp2_session* /*h2*/, std::int32_t stream_id,
                             std::uint32_t error_code, void* user) {
    auto* self = session_of(user);
    auto& e = *self->engine_;
    const auto it = e.streams.find(stream_id);
    if (it == e.streams.end()) {
      return 0;
    }
    auto c = std::move(it->second);
    e.streams.erase(it);
    auto& r = c->result;
    if (c->over_limit) {
      r.result = outcome::invalid_body;
    } else if (error_code == NGHTTP2_REFUSED_STREAM) {
      // Not processed (RFC 9113 §8.7): refused, or beyond a GOAWAY's last
      // stream. Safe to send elsewhere.
      c->retry = true;
      r.result = outcome::reset;
      r.error = http2_error(error_code);
    } else if (error_code != NGHTTP2_NO_ERROR) {
      r.result = outcome::reset;
      r.error = http2_error(error_code);
    } else if (r.status == 0) {
      r.result = outcome::protocol_error;
    } else if (r.status != 200) {
      r.result = outcome::http_error;
    } else {
      r.result = is_valid_payload(r.body) ? outcome::success : outcome::invalid_body;
    }
    self->finish(c);
    return 0;
  }

  static int on_frame(nghttp2_session* h2, const nghttp2_frame* frame, void* user) {
    auto* self = session_of(user);
    auto& e = *self->engine_;
    e.active_since_ping = true;
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS: {
        const auto max =
            nghttp2_session_get_remote_settings(h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        self->max_streams_.store(
            static_cast<int>(std::min<std::uint32_t>(max, std::numeric_limits<int>::max())),
            std::memory_order_relaxed);
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !e.settings_received) {
          e.settings_received = true;
          if (auto ready = std::move(e.on_ready)) {
            ready();
          }
        }
        break;
      }
      case NGHTTP2_GOAWAY:
        // Streams up to its last stream id finish; nghttp2 closes the others
        // with REFUSED_STREAM. No new ones here.
        self->accepting_.store(false, std::memory_order_relaxed);
        e.stats.upstream_goaway_received();
        if (e.streams.empty()) {
          self->end(error_code{});  // nothing left to drain
        }
        break;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
          e.ping_unanswered = false;
        }
        break;
      default:
        break;
    }
    return 0;
  }
};

// ---------------------------------------------------------------------------

http2_session::http2_session(const net::any_io_executor& ex, std::unique_ptr<connection> c,
                             http2_request request, client_stats& stats,
                             std::function<void()> on_freed, end_fn on_end)
    : engine_{std::make_unique<engine>(ex, std::move(c), std::move(request), stats,
                                       std::move(on_freed), std::move(on_end))} {}

http2_session::~http2_session() = default;

std::shared_ptr<http2_session> http2_session::start(const net::any_io_executor& ex,
                                                    std::unique_ptr<connection> c,
                                                    http2_request request, client_stats& stats,
                                                    std::function<void()> on_freed, end_fn on_end) {
  std::shared_ptr<http2_session> self{new http2_session{ex, std::move(c), std::move(request), stats,
                                                        std::move(on_freed), std::move(on_end)}};
  auto& e = *self->engine_;

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
    throw std::bad_alloc{};
  }
  nghttp2_session_callbacks_set_on_header_callback(callbacks, http2_callbacks::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, http2_callbacks::on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         http2_callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, http2_callbacks::on_frame);
  // Pushed streams are refused by SETTINGS_ENABLE_PUSH 0 below.
  const int rv = nghttp2_session_client_new2(&e.h2, callbacks, self.get(), option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    throw std::bad_alloc{};
  }
  const std::array<nghttp2_settings_entry, 1> settings{{{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}}};
  nghttp2_submit_settings(e.h2, NGHTTP2_FLAG_NONE, settings.data(), settings.size());

  net::dispatch(e.strand, [self] {
    self->flush();
    net::co_spawn(self->engine_->strand, self->read_loop(), net::detached);
    net::co_spawn(self->engine_->strand, self->ping_loop(), net::detached);
  });
  return self;
}

bool http2_session::reserve() {
  int n = reserved_.load(std::memory_order_relaxed);
  for (;;) {
    if (!accepting_.load(std::memory_order_relaxed) ||
        n >= max_streams_.load(std::memory_order_relaxed)) {
      return false;
    }
    if (reserved_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
      engine_->stats.upstream_streams_in_use(1);
      return true;
    }
  }
}

net::awaitable<attempt_result> http2_session::exchange(const request_fields& fields,
                                                       stop_signal& stop, bool& retry) {
  retry = false;
  const auto executor = co_await net::this_coro::executor;
  auto c = std::make_shared<call>(executor);
  c->request_id = fields.request_id;
  c->traceparent = fields.traceparent;
  c->tracestate = fields.tracestate;
  auto self = shared_from_this();
  net::post(engine_->strand, [self, c] { self->submit(c); });
  {
    stop_callback on_stop{stop, [&] {
                            c->abandoned.store(true, std::memory_order_relaxed);
                            c->done.cancel();
                            net::post(engine_->strand, [self, c] { self->cancel(c); });
                          }};
    if (!stop.stop_requested()) {
      co_await c->done.async_wait(use_tuple);
    }
  }
  if (stop.stop_requested()) {
    attempt_result r;
    r.result = outcome::cancelled;
    r.error = net::error::operation_aborted;
    co_return r;
  }
  retry = c->retry;
  co_return std::move(c->result);
}

void http2_session::when_ready(std::function<void()> ready) {
  net::dispatch(engine_->strand, [self = shared_from_this(), ready = std::move(ready)]() mutable {
    auto& e = *self->engine_;
    if (e.settings_received || e.closed) {
      ready();
    } else {
      e.on_ready = std::move(ready);
    }
  });
}

void http2_session::close() {
  net::dispatch(engine_->strand, [self = shared_from_this()] { self->end(net::error::shut_down); });
}

// --- on the strand -------------------------------------------------------

void http2_session::submit(const std::shared_ptr<call>& c) {
  auto& e = *engine_;
  if (c->abandoned.load(std::memory_order_relaxed)) {
    finish(c);
    return;
  }
  if (e.closed || nghttp2_session_check_request_allowed(e.h2) == 0) {
    c->retry = true;  // never sent
    c->result.result = outcome::reset;
    c->result.error = net::error::shut_down;
    finish(c);
    return;
  }
  std::array<nghttp2_nv, 9> nva{};
  std::size_t n = 0;
  nva[n++] = header(":method", "GET");
  nva[n++] = header(":scheme", e.request.scheme);
  nva[n++] = header(":authority", e.request.authority);
  nva[n++] = header(":path", e.request.path);
  nva[n++] = header("user-agent", e.request.user_agent);
  nva[n++] = header("accept", "application/json");
  if (!c->request_id.empty()) {
    nva[n++] = header("x-request-id", c->request_id);
  }
  if (!c->traceparent.empty()) {
    nva[n++] = header("traceparent", c->traceparent);
  }
  if (!c->tracestate.empty()) {
    nva[n++] = header("tracestate", c->tracestate);
  }
  const auto id = nghttp2_submit_request(e.h2, nullptr, nva.data(), n, nullptr, nullptr);
  if (id < 0) {
    c->retry = true;
    c->result.result = outcome::reset;
    c->result.error = http2_error(NGHTTP2_REFUSED_STREAM);
    finish(c);
    return;
  }
  c->stream_id = id;
  e.streams.emplace(id, c);
  e.active_since_ping = true;
  flush();
}

void http2_session::cancel(const std::shared_ptr<call>& c) {
  auto& e = *engine_;
  if (c->finished) {
    return;
  }
  if (c->stream_id != 0 && !e.closed) {
    // The stream closes, and its call finishes, as the reset goes out.
    nghttp2_submit_rst_stream(e.h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
    engine_->stats.upstream_stream_reset();
    flush();
  }
}

void http2_session::finish(const std::shared_ptr<call>& c) {
  if (c->finished) {
    return;
  }
  c->finished = true;
  reserved_.fetch_sub(1, std::memory_order_relaxed);
  engine_->stats.upstream_streams_in_use(-1);
  if (!c->abandoned.load(std::memory_order_relaxed)) {
    net::post(c->done.get_executor(), [c] { c->done.cancel(); });
  }
  auto& e = *engine_;
  if (!accepting_.load(std::memory_order_relaxed)) {
    if (e.streams.empty() && !e.closed) {
      end(error_code{});  // drained after a GOAWAY
    }
  } else if (e.on_freed) {
    e.on_freed();
  }
}

void http2_session::flush() {
  auto& e = *engine_;
  if (e.writing || e.closed) {
    return;
  }
  e.writing = true;
  net::co_spawn(e.strand, write_loop(), net::detached);
}

net::awaitable<void> http2_session::write_loop() {
  auto self = shared_from_this();
  auto& e = *engine_;
  for (;;) {
    e.out.clear();
    while (e.out.size() < write_batch) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(e.h2, &data);
      if (n < 0) {
        e.writing = false;
        end(http2_error(NGHTTP2_INTERNAL_ERROR));
        co_return;
      }
      if (n == 0) {
        break;
      }
      e.out.insert(e.out.end(), data, data + n);
    }
    if (e.out.empty() || e.closed) {
      break;
    }
    error_code ec;
    if (e.conn->tls) {
      std::tie(ec, std::ignore) =
          co_await net::async_write(*e.conn->tls, net::buffer(e.out), use_tuple);
    } else {
      std::tie(ec, std::ignore) =
          co_await net::async_write(*e.conn->plain, net::buffer(e.out), use_tuple);
    }
    if (ec) {
      e.writing = false;
      end(ec);
      co_return;
    }
  }
  e.writing = false;
}

net::awaitable<void> http2_session::read_loop() {
  auto self = shared_from_this();
  auto& e = *engine_;
  while (!e.closed) {
    error_code ec;
    std::size_t n = 0;
    if (e.conn->tls) {
      std::tie(ec, n) = co_await e.conn->tls->async_read_some(net::buffer(e.in), use_tuple);
    } else {
      std::tie(ec, n) = co_await e.conn->plain->async_read_some(net::buffer(e.in), use_tuple);
    }
    if (e.closed) {
      break;
    }
    if (ec) {
      end(ec == net::error::eof || ec == ssl::error::stream_truncated
              ? error_code{http::error::end_of_stream}
              : ec);
      break;
    }
    const auto rv = nghttp2_session_mem_recv(e.h2, e.in.data(), n);
    if (rv < 0) {
      end(http2_error(NGHTTP2_PROTOCOL_ERROR));
      break;
    }
    flush();
    if (nghttp2_session_want_read(e.h2) == 0 && nghttp2_session_want_write(e.h2) == 0) {
      end(error_code{});
      break;
    }
  }
}

net::awaitable<void> http2_session::ping_loop() {
  auto self = shared_from_this();
  auto& e = *engine_;
  while (!e.closed) {
    // Nothing received (or sent) for a tick: a PING. One unanswered by the
    // next tick means the connection is gone, and it is closed.
    e.ping_timer.expires_after(e.request.ping_interval);
    co_await e.ping_timer.async_wait(use_tuple);
    if (e.closed) {
      break;
    }
    if (e.ping_unanswered) {
      end(net::error::timed_out);  // the connection is gone
      break;
    }
    if (!e.active_since_ping) {
      nghttp2_submit_ping(e.h2, NGHTTP2_FLAG_NONE, nullptr);
      e.ping_unanswered = true;
      flush();
    }
    e.active_since_ping = false;
  }
}

void http2_session::end(error_code why) {
  auto& e = *engine_;
  if (e.closed) {
    return;
  }
  e.closed = true;
  accepting_.store(false, std::memory_order_relaxed);
  e.ping_timer.cancel();
  e.conn->close();
  // Every stream still open fails at once, so that its race can hedge now.
  auto open = std::move(e.streams);
  e.streams.clear();
  for (auto& [id, c] : open) {
    c->result.result = outcome::reset;
    c->result.error = why ? why : error_code{http::error::end_of_stream};
    finish(c);
  }
  e.on_freed = nullptr;
  if (auto ready = std::move(e.on_ready)) {
    ready();
  }
  if (auto done = std::move(e.on_end)) {
    done(*this);
  }
}

// ---------------------------------------------------------------------------

std::shared_ptr<http2_session> http2_sessions::reserve() {
  std::lock_guard lock{mu_};
  for (const auto& s : live_) {
    if (s->reserve()) {
      return s;
    }
  }
  return nullptr;
}

void http2_sessions::add(std::shared_ptr<http2_session> s) {
  std::lock_guard lock{mu_};
  live_.push_back(std::move(s));
}

void http2_sessions::remove(const http2_session* s) {
  std::lock_guard lock{mu_};
  std::erase_if(live_, [s](const auto& p) { return p.get() == s; });
}

void http2_sessions::close_all() {
  std::vector<std::shared_ptr<http2_session>> all;
  {
    std::lock_guard lock{mu_};
    all = live_;
  }
  for (auto& s : all) {
    s->close();
  }
}

std::size_t http2_sessions::size() const {
  std::lock_guard lock{mu_};
  return live_.size();
}

}  // namespace smart::upstream
