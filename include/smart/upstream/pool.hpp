#pragma once
// The upstream connection pool: idle connections (most recently used first)
// and a cap on open connections (idle + leased + being opened), with waiters
// served in arrival order when the cap is reached. Shared by all I/O threads
// behind one mutex held only for a few pointer moves.
//
// A template on the connection so that its rules can be tested without
// sockets. `Conn` provides:
//   void close();   // ends the connection; idempotent
//   bool quiet();   // nothing has arrived on the idle connection, no end of
//                   // stream either: its last exchange ended exactly at a
//                   // message boundary, and nothing came after
// A connection is given back only if its exchange ended at a message boundary
// with nothing unread; the pool then reuses it only if it stayed quiet while
// idle and is not older than `idle_max_age`. Anything else closes it.

#include "smart/clock.hpp"
#include "smart/stop.hpp"
#include "smart/upstream/stats.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace smart::upstream {

struct pool_options {
  int max_connections = 1024;
  // A pooled connection idle for longer than this is closed rather than
  // reused: upstreams commonly drop idle keep-alive connections after 5-60 s.
  duration idle_max_age = std::chrono::seconds{20};
};

template <typename Conn>
class basic_pool {
 public:
  using conn_ptr = std::unique_ptr<Conn>;
  // A lease: an idle connection, or null: the right to open a new one.
  using lease = conn_ptr;

  basic_pool(pool_options options, client_stats& stats) : options_{options}, stats_{stats} {}
  basic_pool(const basic_pool&) = delete;
  basic_pool& operator=(const basic_pool&) = delete;
  ~basic_pool() { stop(); }

  // A lease if one is free at once; nothing at the cap.
  std::optional<lease> try_acquire();
  // A lease, waiting at the cap for a connection to come back or a slot to
  // free up; nothing if `stop` is requested first (on the caller's executor),
  // or when nudged (see nudge()), or when a nudge came after `since` (an
  // epoch() the caller read before it last looked elsewhere).
  boost::asio::awaitable<std::optional<lease>> acquire(
      stop_signal& stop, std::optional<std::uint64_t> since = std::nullopt);

  // Something other than a lease may serve a waiter now (a stream freed on
  // an HTTP/2 connection, or a new one): wakes the oldest waiter (or all)
  // with nothing, to look again.
  void nudge(bool all);
  [[nodiscard]] std::uint64_t epoch() const { return epoch_.load(); }

  // Returns a connection whose exchange ended cleanly, for reuse (or hands it
  // to a waiter). After stop() it is closed instead.
  void give_back(conn_ptr c);
  // Ends a lease without a reusable connection: closes c (if any) and frees
  // its slot for a waiter or a future connection.
  void forget(conn_ptr c);

  // No more reuse: closes the idle connections.
  void stop();
  [[nodiscard]] bool stopped() const {
    std::lock_guard lock{mu_};
    return stopped_;
  }
  [[nodiscard]] std::size_t idle() const {
    std::lock_guard lock{mu_};
    return idle_.size();
  }
  // Idle + leased + being opened.
  [[nodiscard]] int open() const {
    std::lock_guard lock{mu_};
    return open_;
  }

 private:
  struct idle_entry {
    conn_ptr conn;
    time_point since;
  };
  struct waiter {
    explicit waiter(const boost::asio::any_io_executor& ex) : wake{ex, time_point::max()} {}
    boost::asio::steady_timer wake;  // cancelled (on the waiter's executor) to wake it
    bool granted = false;            // guarded by mu_
    conn_ptr conn;                   // the grant: a connection, or null for a slot
  };

  // What one look at the pool found, under the lock.
  enum class found { connection, slot, none };
  found take_locked(idle_entry& out);
  // Whether a connection taken from the idle list can carry a request; if
  // not, it is closed and its slot freed. Outside the lock.
  bool usable(idle_entry& e);

  // Hands a lease to the oldest waiter; call with mu_ held. Returns the
  // waiter to wake once the lock is released.
  std::shared_ptr<waiter> grant_locked(conn_ptr c) {
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    waiting_.fetch_sub(1);
    w->granted = true;
    w->conn = std::move(c);
    return w;
  }
  static void wake(const std::shared_ptr<waiter>& w) {
    boost::asio::post(w->wake.get_executor(), [w] { w->wake.cancel(); });
  }

  const pool_options options_;
  client_stats& stats_;
  mutable std::mutex mu_;
  std::vector<idle_entry> idle_;  // the most recently used last
  std::deque<std::shared_ptr<waiter>> waiters_;
  int open_ = 0;
  bool stopped_ = false;
  // Nudges so far, and waiters right now (as an atomic too, so that a nudge
  // with nobody waiting takes no lock). Sequentially consistent: a waiter
  // registers, then checks the epoch; a nudge counts, then checks for
  // waiters; one of them sees the other.
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<int> waiting_{0};
};

template <typename Conn>
typename basic_pool<Conn>::found basic_pool<Conn>::take_locked(idle_entry& out) {
  if (!idle_.empty()) {
    out = std::move(idle_.back());
    idle_.pop_back();
    return found::connection;
  }
  if (open_ < options_.max_connections) {
    ++open_;
    return found::slot;
  }
  return found::none;
}

template <typename Conn>
bool basic_pool<Conn>::usable(idle_entry& e) {
  if (clock::now() - e.since <= options_.idle_max_age && e.conn->quiet()) {
    return true;
  }
  e.conn->close();
  e.conn.reset();
  std::lock_guard lock{mu_};
  --open_;
  return false;
}

template <typename Conn>
std::optional<typename basic_pool<Conn>::lease> basic_pool<Conn>::try_acquire() {
  for (;;) {
    idle_entry e;
    found f{};
    {
      std::lock_guard lock{mu_};
      f = take_locked(e);
    }
    if (f == found::none) {
      return std::nullopt;
    }
    if (f == found::slot || usable(e)) {
      stats_.upstream_connections_in_use(1);
      return std::move(e.conn);
    }
  }
}

template <typename Conn>
boost::asio::awaitable<std::optional<typename basic_pool<Conn>::lease>> basic_pool<Conn>::acquire(
    stop_signal& stop, std::optional<std::uint64_t> since) {
  if (auto got = try_acquire()) {
    co_return got;
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  for (;;) {
    idle_entry e;
    found f{};
    std::shared_ptr<waiter> w;
    {
      std::lock_guard lock{mu_};
      f = take_locked(e);
      if (f == found::none) {
        waiting_.fetch_add(1);
        if (since && *since != epoch_.load()) {
          waiting_.fetch_sub(1);
          co_return std::nullopt;  // nudged since the caller looked
        }
        w = std::make_shared<waiter>(executor);
        waiters_.push_back(w);
      }
    }
    if (f == found::slot) {
      stats_.upstream_connections_in_use(1);
      co_return conn_ptr{};
    }
    if (f == found::connection) {
      if (usable(e)) {
        stats_.upstream_connections_in_use(1);
        co_return std::move(e.conn);
      }
      continue;
    }

    // At the cap: wait for a connection to come back or a slot to free up.
    // Woken by a grant, or by a stop request (both on this executor).
    {
      stop_callback on_stop{stop, [&w] { w->wake.cancel(); }};
      if (!stop.stop_requested()) {
        co_await w->wake.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
    }
    conn_ptr granted;
    bool got = false;
    {
      std::lock_guard lock{mu_};
      if (w->granted) {
        got = true;
        granted = std::move(w->conn);
      } else if (std::erase(waiters_, w) != 0) {
        waiting_.fetch_sub(1);
      }
    }
    if (!got) {
      co_return std::nullopt;
    }
    stats_.upstream_connections_in_use(1);
    if (stop.stop_requested()) {
      // Granted and stopped at once: pass the lease on.
      if (granted) {
        give_back(std::move(granted));
      } else {
        forget(nullptr);
      }
      co_return std::nullopt;
    }
    if (granted && !granted->quiet()) {
      granted->close();
      granted.reset();  // keep the slot: the caller opens a fresh connection
    }
    co_return granted;
  }
}

template <typename Conn>
void basic_pool<Conn>::give_back(conn_ptr c) {
  if (stopped()) {
    forget(std::move(c));  // no more reuse; the slot may still serve a waiter
    return;
  }
  stats_.upstream_connections_in_use(-1);
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock{mu_};
    if (!waiters_.empty()) {
      w = grant_locked(std::move(c));
    } else {
      idle_.push_back({std::move(c), clock::now()});
    }
  }
  if (w) {
    wake(w);
  }
}

template <typename Conn>
void basic_pool<Conn>::forget(conn_ptr c) {
  stats_.upstream_connections_in_use(-1);
  if (c) {
    c->close();
  }
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock{mu_};
    if (!waiters_.empty()) {
      w = grant_locked(nullptr);
    } else {
      --open_;
    }
  }
  if (w) {
    wake(w);
  }
}

template <typename Conn>
void basic_pool<Conn>::nudge(bool all) {
  epoch_.fetch_add(1);
  if (waiting_.load() == 0) {
    return;
  }
  std::vector<std::shared_ptr<waiter>> woken;
  {
    std::lock_guard lock{mu_};
    while (!waiters_.empty() && (all || woken.empty())) {
      woken.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
      waiting_.fetch_sub(1);
    }
  }
  for (const auto& w : woken) {
    wake(w);  // not granted: acquire() yields nothing
  }
}

template <typename Conn>
void basic_pool<Conn>::stop() {
  std::vector<idle_entry> closing;
  {
    std::lock_guard lock{mu_};
    stopped_ = true;
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  for (auto& e : closing) {
    e.conn->close();
  }
}

}  // namespace smart::upstream
