// The connection pool's rules, on connections that are only flags: reuse
// order, the cap, waiters, what is never reused, and stopping (no sockets).

#include "counting_stats.hpp"

#include "smart/upstream/pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// Connections record their closing in a log the test keeps: the pool
// destroys a connection once it has closed it.
struct fake_conn {
  fake_conn(int id_, std::vector<int>* closed_) : id{id_}, closed{closed_} {}
  void close() { closed->push_back(id); }
  bool quiet() const { return !got_bytes; }

  int id;
  std::vector<int>* closed;
  bool got_bytes = false;  // something arrived while idle
};

using pool = upstream::basic_pool<fake_conn>;
using conn_ptr = pool::conn_ptr;

upstream::pool_options cap(int n, duration age = 1h) {
  return {.max_connections = n, .idle_max_age = age};
}

// A lease that must be the right to open a connection (null).
void expect_slot(std::optional<conn_ptr>& lease) {
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->get(), nullptr);
}

TEST(PoolRules, AnEmptyPoolGrantsSlotsUpToTheCap) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(2), stats};
  auto a = p.try_acquire();
  auto b = p.try_acquire();
  expect_slot(a);
  expect_slot(b);
  EXPECT_FALSE(p.try_acquire().has_value());
  EXPECT_EQ(p.open(), 2);
  EXPECT_EQ(stats.connections_in_use(), 2);
}

TEST(PoolRules, TheMostRecentlyReturnedConnectionIsReusedFirst) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(4), stats};
  auto a = p.try_acquire();
  auto b = p.try_acquire();
  p.give_back(std::make_unique<fake_conn>(1, &closed));
  p.give_back(std::make_unique<fake_conn>(2, &closed));
  EXPECT_EQ(p.idle(), 2U);
  EXPECT_EQ(stats.connections_in_use(), 0);

  auto first = p.try_acquire();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->id, 2);
  auto second = p.try_acquire();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->id, 1);
  EXPECT_EQ(p.open(), 2);  // the same two connections, no new slot
}

TEST(PoolRules, AConnectionThatIsNotQuietIsClosedAndItsSlotFreed) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto lease = p.try_acquire();
  auto conn = std::make_unique<fake_conn>(1, &closed);
  auto* raw = conn.get();
  p.give_back(std::move(conn));
  raw->got_bytes = true;  // a stale byte arrived after the answer was read

  auto next = p.try_acquire();
  expect_slot(next);  // not the connection: the right to open a new one
  EXPECT_EQ(closed, std::vector<int>{1});
  EXPECT_EQ(p.idle(), 0U);
  EXPECT_EQ(p.open(), 1);
}

TEST(PoolRules, AConnectionIdleForLongerThanTheMaximumAgeIsNotReused) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1, 0ns), stats};
  auto lease = p.try_acquire();
  p.give_back(std::make_unique<fake_conn>(1, &closed));
  auto next = p.try_acquire();
  expect_slot(next);
  EXPECT_EQ(closed, std::vector<int>{1});
  EXPECT_EQ(p.open(), 1);
}

TEST(PoolRules, ForgettingALeaseFreesItsSlotAndClosesTheConnection) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto lease = p.try_acquire();
  p.forget(std::make_unique<fake_conn>(1, &closed));
  EXPECT_EQ(closed, std::vector<int>{1});
  EXPECT_EQ(p.open(), 0);
  EXPECT_EQ(stats.connections_in_use(), 0);
  auto again = p.try_acquire();
  expect_slot(again);
}

// What an acquire() run as a coroutine got, once it ended.
template <typename T>
struct spawned {
  std::optional<T> value;
  bool done = false;
};

TEST(PoolRules, AtTheCapAWaiterGetsTheNextConnectionGivenBack) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop;
  spawned<conn_ptr> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await p.acquire(stop);
        got.done = true;
        if (lease) {
          got.value = std::move(*lease);
        }
      },
      asio::detached);
  io.poll();
  EXPECT_FALSE(got.done);  // waiting at the cap

  p.give_back(std::make_unique<fake_conn>(7, &closed));
  io.poll();
  ASSERT_TRUE(got.done);
  ASSERT_TRUE(got.value && *got.value);
  EXPECT_EQ((*got.value)->id, 7);
  EXPECT_EQ(p.idle(), 0U);  // handed over, never idle
  EXPECT_EQ(p.open(), 1);
  EXPECT_EQ(stats.connections_in_use(), 1);
}

TEST(PoolRules, WaitersAreServedInArrivalOrderAndAFreedSlotIsGranted) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop_a;
  stop_signal stop_b;
  std::vector<int> order;
  for (auto* s : {&stop_a, &stop_b}) {
    asio::co_spawn(
        io,
        [&, s]() -> asio::awaitable<void> {
          auto lease = co_await p.acquire(*s);
          order.push_back(s == &stop_a ? 1 : 2);
          if (lease) {
            p.forget(std::move(*lease));  // a failed exchange: the slot goes on
          }
        },
        asio::detached);
  }
  io.poll();
  EXPECT_TRUE(order.empty());
  p.forget(nullptr);  // the holder's connect failed: its slot is freed
  io.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.open(), 0);
  EXPECT_EQ(stats.connections_in_use(), 0);
}

TEST(PoolRules, AStopRequestEndsTheWaitWithNothingAndLeavesNoWaiterBehind) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop;
  spawned<conn_ptr> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await p.acquire(stop);
        got.done = true;
        if (lease) {
          got.value = std::move(*lease);
        }
      },
      asio::detached);
  io.poll();
  stop.request_stop();
  io.poll();
  ASSERT_TRUE(got.done);
  EXPECT_FALSE(got.value.has_value());
  EXPECT_EQ(stats.connections_in_use(), 1);  // only the holder's

  // The connection given back later goes idle: nobody is waiting for it.
  p.give_back(std::make_unique<fake_conn>(1, &closed));
  EXPECT_EQ(p.idle(), 1U);
}

TEST(PoolRules, AGrantToAWaiterStoppedMeanwhileIsPassedOn) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop;
  spawned<conn_ptr> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await p.acquire(stop);
        got.done = true;
        if (lease) {
          got.value = std::move(*lease);
        }
      },
      asio::detached);
  io.poll();
  p.give_back(std::make_unique<fake_conn>(3, &closed));  // granted, wake-up posted
  stop.request_stop();                                   // and stopped before it runs
  io.poll();
  ASSERT_TRUE(got.done);
  EXPECT_FALSE(got.value.has_value());
  EXPECT_EQ(p.idle(), 1U);  // the connection is not lost
  EXPECT_EQ(stats.connections_in_use(), 0);
  EXPECT_EQ(p.open(), 1);
}

TEST(PoolRules, AConnectionHandedToAWaiterThatGotBytesMeanwhileBecomesASlot) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop;
  spawned<conn_ptr> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await p.acquire(stop);
        got.done = true;
        if (lease) {
          got.value = std::move(*lease);
        }
      },
      asio::detached);
  io.poll();
  auto conn = std::make_unique<fake_conn>(4, &closed);
  auto* raw = conn.get();
  p.give_back(std::move(conn));
  raw->got_bytes = true;  // before the waiter runs
  io.poll();
  ASSERT_TRUE(got.done);
  expect_slot(got.value);
  EXPECT_EQ(closed, std::vector<int>{4});
  EXPECT_EQ(p.open(), 1);
}

TEST(PoolRules, ANudgeWakesTheOldestWaiterWithNothingToLookAgain) {
  asio::io_context io;
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  stop_signal stop_a;
  stop_signal stop_b;
  std::vector<int> woken;
  for (auto* s : {&stop_a, &stop_b}) {
    asio::co_spawn(
        io,
        [&, s]() -> asio::awaitable<void> {
          auto lease = co_await p.acquire(*s);
          EXPECT_FALSE(lease.has_value());
          woken.push_back(s == &stop_a ? 1 : 2);
        },
        asio::detached);
  }
  io.poll();
  p.nudge(false);
  io.poll();
  EXPECT_EQ(woken, std::vector<int>{1});
  p.nudge(true);
  io.poll();
  EXPECT_EQ(woken, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.open(), 1);  // nothing was granted
}

TEST(PoolRules, ANudgeBeforeTheWaitBeganIsNotMissed) {
  asio::io_context io;
  counting_stats stats;
  pool p{cap(1), stats};
  auto held = p.try_acquire();
  const auto seen = p.epoch();  // the caller looks elsewhere (a full session)...
  p.nudge(false);               // ...a stream frees up, nobody is waiting yet...
  stop_signal stop;
  spawned<conn_ptr> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await p.acquire(stop, seen);  // ...and then it waits
        got.done = true;
        if (lease) {
          got.value = std::move(*lease);
        }
      },
      asio::detached);
  io.poll();
  EXPECT_TRUE(got.done);  // at once, to look again
  EXPECT_FALSE(got.value.has_value());
}

TEST(PoolRules, AfterStopIdleConnectionsAreClosedAndNothingIsPooled) {
  counting_stats stats;
  std::vector<int> closed;
  pool p{cap(2), stats};
  auto a = p.try_acquire();
  auto b = p.try_acquire();
  p.give_back(std::make_unique<fake_conn>(1, &closed));
  p.stop();
  EXPECT_TRUE(p.stopped());
  EXPECT_EQ(p.idle(), 0U);
  EXPECT_EQ(closed, std::vector<int>{1});

  p.give_back(std::make_unique<fake_conn>(2, &closed));  // a lease ending after stop
  EXPECT_EQ(p.idle(), 0U);
  EXPECT_EQ(closed, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.open(), 0);
  EXPECT_EQ(stats.connections_in_use(), 0);
}

}  // namespace
}  // namespace smart::testing
