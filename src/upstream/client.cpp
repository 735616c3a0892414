// The fetch that ties the upstream layer together: a stream on an HTTP/2
// session when one has room; otherwise a lease from the pool, a connection
// opened by the connector when the pool has none to reuse, and either one
// HTTP/1.1 exchange (the connection back to the pool or closed after it) or,
// when the new connection speaks HTTP/2, a session that keeps it.

#include "smart/upstream/client.hpp"

#include "connect.hpp"
#include "connection.hpp"
#include "http1.hpp"
#include "http2.hpp"
#include "request_fields.hpp"
#include "resolver.hpp"

#include "smart/upstream/pool.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace smart::upstream {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto resolve_refresh = std::chrono::seconds{30};
constexpr auto resolve_retry = std::chrono::seconds{1};
// Times one attempt may move on to another connection because the upstream
// did not process its request (HTTP/2 REFUSED_STREAM or GOAWAY).
constexpr int max_unprocessed = 3;

url parsed_or_throw(const std::string& text) {
  auto parsed = parse_url(text);
  if (!parsed) {
    throw std::invalid_argument{"upstream URL " + text + ": " + parsed.error()};
  }
  return *parsed;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  impl(net::any_io_executor executor, const client_options& options, client_stats& stats)
      : ex{std::move(executor)},
        target{parsed_or_throw(options.url)},
        connect{target, options.version, options.extra_ca_file, stats},
        http1{target, options.body_limit},
        h2_request{target, options.body_limit, options.ping_interval},
        may_speak_http2{options.version == upstream_http::http2 ||
                        (options.version == upstream_http::automatic && target.tls)},
        stats_{stats},
        connections{pool_options{.max_connections = options.max_connections}, stats},
        expect_http2{may_speak_http2},
        bg{net::make_strand(ex)},
        refresh_timer{bg} {}

  ~impl() { sessions.close_all(); }

  net::awaitable<attempt_result> fetch(stop_signal& stop, request_tags tags);
  // Runs the attempt on a lease from the pool (a connection to reuse, or
  // null: the right to open one), which it ends.
  // `opener`: this attempt counts in `opening` (see join_opening) until its
  // new connection is known to speak HTTP/2 or not.
  net::awaitable<attempt_result> on_lease(std::unique_ptr<connection> conn, stop_signal& stop,
                                          const request_fields& fields, bool opener,
                                          bool& unprocessed);
  // Turns a new connection that speaks HTTP/2 into a session, which holds
  // the connection's slot in the pool until it ends.
  std::shared_ptr<http2_session> adopt(std::unique_ptr<connection> conn);
  net::awaitable<void> refresh_names();

  // Streams wait for an HTTP/2 connection being opened rather than open one
  // each (RFC 9113 §9.1: one connection per origin). join_opening() gives a
  // timer to wait on when a connection is being opened; otherwise it counts
  // the caller as the one opening it, until opening_done().
  std::shared_ptr<net::steady_timer> join_opening(const net::any_io_executor& waiter);
  net::awaitable<void> wait_for_opening(std::shared_ptr<net::steady_timer> wake, stop_signal& stop);
  void opening_done();

  net::any_io_executor ex;
  url target;
  connector connect;
  http1_exchange http1;
  http2_request h2_request;
  bool may_speak_http2;
  client_stats& stats_;
  basic_pool<connection> connections;
  http2_sessions sessions;

  // Connections being opened that are expected to speak HTTP/2, and the
  // attempts waiting for them.
  std::mutex opening_mu;
  int opening = 0;
  std::vector<std::shared_ptr<net::steady_timer>> opening_waiters;
  // The upstream's last new connection spoke HTTP/2 (or only HTTP/2 is
  // allowed): new attempts may expect it again.
  std::atomic<bool> expect_http2 = false;

  // Background name resolution is paced by a timer on its own strand.
  net::strand<net::any_io_executor> bg;
  net::steady_timer refresh_timer;
  bool stopping = false;  // on bg
  std::shared_ptr<name_cache> names = std::make_shared<name_cache>();
};

net::awaitable<void> client::impl::refresh_names() {
  auto self = shared_from_this();  // keeps the impl alive while the loop runs
  const auto port = std::to_string(target.port);
  while (!stopping) {
    refresh_timer.expires_after(names->ok() ? resolve_refresh : resolve_retry);
    co_await refresh_timer.async_wait(use_tuple);
    if (stopping) {
      break;
    }
    if (const auto why = names->take_error(); !why.empty()) {
      // The last good addresses are kept; the next try comes soon.
      spdlog::warn("upstream: cannot resolve {}: {}", target.host, why);
    }
    names->refresh(target.host, port);
  }
}

net::awaitable<attempt_result> client::impl::fetch(stop_signal& stop, request_tags tags) {
  // The attempt is a span of the request's trace: one span id, whichever
  // connections it goes through.
  std::array<char, trace::traceparent_size> traceparent{};
  request_fields fields{tags.request_id, {}, {}};
  if (tags.trace != nullptr) {
    traceparent = trace::format_traceparent(trace::child_of(*tags.trace));
    fields.traceparent = {traceparent.data(), traceparent.size()};
    fields.tracestate = tags.tracestate;
  }
  for (int moved = 0;;) {
    bool unprocessed = false;
    attempt_result r;
    // (Read before looking at the sessions: a stream freed after that look
    // makes acquire() return at once, to look again.)
    const auto seen = may_speak_http2 ? std::optional{connections.epoch()} : std::nullopt;
    if (auto session = may_speak_http2 ? sessions.reserve() : nullptr) {
      r = co_await session->exchange(fields, stop, unprocessed);
    } else {
      // While a connection that may speak HTTP/2 is being opened, wait for
      // it; otherwise this attempt may be the one that opens it.
      bool opener = false;
      if (may_speak_http2 && expect_http2.load(std::memory_order_relaxed)) {
        if (auto wake = join_opening(co_await net::this_coro::executor)) {
          co_await wait_for_opening(std::move(wake), stop);
          if (stop.stop_requested()) {
            co_return failure(outcome::cancelled, net::error::operation_aborted);
          }
          continue;
        }
        opener = true;
        if (auto added = sessions.reserve()) {
          opening_done();  // one was added since the first look
          r = co_await added->exchange(fields, stop, unprocessed);
          if (!unprocessed || ++moved > max_unprocessed || stop.stop_requested()) {
            co_return r;
          }
          continue;
        }
      }
      auto lease = connections.try_acquire();  // no coroutine frame in the common case
      if (!lease) {
        lease = co_await connections.acquire(stop, seen);
      }
      if (!lease) {
        if (opener) {
          opening_done();
        }
        if (stop.stop_requested()) {
          co_return failure(outcome::cancelled, net::error::operation_aborted);
        }
        continue;  // nudged: an HTTP/2 stream may be free now
      }
      if (opener && *lease) {
        opening_done();  // a pooled HTTP/1.1 connection: nothing is opened
        opener = false;
      }
      r = co_await on_lease(std::move(*lease), stop, fields, opener, unprocessed);
    }
    if (!unprocessed || ++moved > max_unprocessed || stop.stop_requested()) {
      co_return r;
    }
    // Not processed: GET is idempotent, and it was never seen; another
    // connection takes it within the same attempt (RFC 9113 §8.7).
  }
}

net::awaitable<attempt_result> client::impl::on_lease(std::unique_ptr<connection> conn,
                                                      stop_signal& stop,
                                                      const request_fields& fields, bool opener,
                                                      bool& unprocessed) {
  bool opening_counted = opener;
  for (bool replaced = false;; replaced = true) {
    const bool fresh = !conn;
    if (fresh) {
      conn = std::make_unique<connection>(ex, connect.tls_context());
    }
    attempt_result r;
    http1_exchange::ending end;
    const auto sent = clock::now();
    {
      // A stop request closes the connection: whatever step is running, or
      // about to start, fails at once. (Per-operation cancellation alone can
      // miss a request that arrives between two steps.) The callback runs on
      // the caller's strand, which is this coroutine's.
      stop_callback close_on_stop{stop, [c = conn.get()] { c->close(); }};
      if (fresh) {
        const auto endpoints = names->current();
        if (endpoints) {
          r = co_await connect.open(*conn, *endpoints, stop);
        } else {
          r = failure(outcome::connect_error, net::error::host_not_found);
        }
        if (may_speak_http2 && r.ok()) {
          expect_http2.store(conn->http2, std::memory_order_relaxed);
        }
        if (opening_counted && !(r.ok() && conn->http2)) {
          opening_done();  // no session to wait for
          opening_counted = false;
        }
      }
      if ((r.ok() || !fresh) && !conn->http2) {
        r = co_await http1.run(*conn, fields, stop, end);
      }
    }
    if (stop.stop_requested()) {
      connections.forget(std::move(conn));
      if (opening_counted) {
        opening_done();
      }
      co_return failure(outcome::cancelled, r.error);
    }
    if (conn->http2 && r.ok()) {
      auto session = adopt(std::move(conn));
      const bool reserved = session->reserve();  // this attempt's stream first
      if (opening_counted) {
        // The waiters look once the server's SETTINGS say how many streams
        // it takes: before that, streams beyond its limit would queue on
        // this connection instead of opening another.
        session->when_ready([weak = weak_from_this()] {
          if (auto self = weak.lock()) {
            self->opening_done();
            self->connections.nudge(true);
          }
        });
      }
      if (!reserved) {
        unprocessed = true;  // closed already; another connection takes it
        co_return failure(outcome::reset, net::error::shut_down);
      }
      co_return co_await session->exchange(fields, stop, unprocessed);
    }
    if (!fresh && !replaced && end.silent && r.result == outcome::reset &&
        clock::now() - sent <= stale_window(*conn)) {
      // The upstream closed this pooled connection while it was idle. That is
      // not this attempt's failure: keep the slot, open a fresh connection.
      // (A reset after the upstream has held the request for a while is the
      // upstream failing it, and counts as this attempt's failure.)
      conn->close();
      conn.reset();
      continue;
    }
    if (end.reusable) {
      connections.give_back(std::move(conn));
    } else {
      connections.forget(std::move(conn));
    }
    co_return r;
  }
}

std::shared_ptr<net::steady_timer> client::impl::join_opening(const net::any_io_executor& waiter) {
  std::lock_guard lock{opening_mu};
  if (opening == 0) {
    ++opening;
    return nullptr;
  }
  // On the waiter's executor, where the stop callback cancels it too.
  auto wake = std::make_shared<net::steady_timer>(waiter, time_point::max());
  opening_waiters.push_back(wake);
  return wake;
}

net::awaitable<void> client::impl::wait_for_opening(std::shared_ptr<net::steady_timer> wake,
                                                    stop_signal& stop) {
  {
    stop_callback on_stop{stop, [&wake] { wake->cancel(); }};
    if (!stop.stop_requested()) {
      co_await wake->async_wait(use_tuple);
    }
  }
  std::lock_guard lock{opening_mu};
  std::erase(opening_waiters, wake);
}

void client::impl::opening_done() {
  std::vector<std::shared_ptr<net::steady_timer>> woken;
  {
    std::lock_guard lock{opening_mu};
    --opening;
    woken.swap(opening_waiters);
  }
  for (auto& w : woken) {
    net::post(w->get_executor(), [w] { w->cancel(); });
  }
}

std::shared_ptr<http2_session> client::impl::adopt(std::unique_ptr<connection> conn) {
  std::weak_ptr<impl> weak = weak_from_this();
  auto session = http2_session::start(
      ex, std::move(conn), h2_request, stats_,
      [weak] {
        if (auto self = weak.lock()) {
          self->connections.nudge(false);  // one waiter may take the stream
        }
      },
      [weak](const http2_session& ended) {
        if (auto self = weak.lock()) {
          self->sessions.remove(&ended);
          self->connections.forget(nullptr);  // its slot, to a waiter if any
        }
      });
  sessions.add(session);
  connections.nudge(true);  // waiters may all find a stream on it
  return session;
}

// ---------------------------------------------------------------------------

client::client(net::any_io_executor ex, client_options options, client_stats& m)
    : impl_{std::make_shared<impl>(std::move(ex), options, m)} {}

client::~client() = default;

void client::start() {
  auto& i = *impl_;
  error_code ec;
  const auto address = net::ip::make_address(i.target.host, ec);
  if (!ec) {
    i.names->store({tcp::endpoint{address, i.target.port}});
    return;  // an address needs no resolution
  }
  // The first resolution happens before the service accepts requests, so
  // that the first attempts do not fail for want of an address; later ones
  // refresh in the background, outside any request.
  const auto why = i.names->resolve(i.target.host, std::to_string(i.target.port), false);
  if (!why.empty()) {
    spdlog::warn("upstream: cannot resolve {} yet ({}); retrying in the background", i.target.host,
                 why);
  }
  net::co_spawn(i.bg, i.refresh_names(), net::detached);
}

void client::stop() {
  impl_->connections.stop();
  impl_->sessions.close_all();
  net::post(impl_->bg, [i = impl_] {
    i->stopping = true;
    i->refresh_timer.cancel();
  });
}

bool client::resolved() const {
  const auto eps = impl_->names->current();
  return eps && !eps->empty();
}

net::awaitable<attempt_result> client::fetch(stop_signal& stop, request_tags tags) {
  return impl_->fetch(stop, tags);
}

std::size_t client::idle_connections() const {
  return impl_->connections.idle();
}

}  // namespace smart::upstream
