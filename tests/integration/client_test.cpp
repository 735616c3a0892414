// The upstream client on its own: a stop request ends an attempt at any step,
// including one that was requested between two steps (stop requests are
// sticky, unlike a single per-operation cancellation).

#include "smart/upstream/client.hpp"
#include "smart/net.hpp"

#include "counting_stats.hpp"
#include "fake_upstream.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;
using upstream::outcome;

struct client_run {
  std::optional<upstream::attempt_result> result;
  std::chrono::steady_clock::duration took{};
};

// Runs one fetch on a fresh io_context; `stop_after` requests the stop from a
// timer on the same executor, `stop_first` before the fetch begins.
client_run fetch_once(const std::string& url, std::optional<std::chrono::milliseconds> stop_after,
                      bool stop_first = false) {
  net::io_context ioc;
  counting_stats m;
  upstream::client_options options;
  options.url = url;
  upstream::client c{ioc.get_executor(), options, m};
  c.start();
  stop_signal stop;
  client_run run;
  const auto start = std::chrono::steady_clock::now();
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        if (stop_first) {
          stop.request_stop();
        }
        run.result = co_await c.fetch(stop);
        run.took = std::chrono::steady_clock::now() - start;
      },
      net::detached);
  net::steady_timer timer{ioc};
  if (stop_after) {
    timer.expires_after(*stop_after);
    timer.async_wait([&](const error_code& ec) {
      if (!ec) {
        stop.request_stop();
      }
    });
  }
  ioc.run_for(5s);
  c.stop();
  ioc.run_for(100ms);
  return run;
}

TEST(Client, FetchesAndValidates) {
  fake_upstream upstream;
  upstream.script({reply::ok(1, R"({"time": 7})")});
  const auto run = fetch_once(upstream.url(), std::nullopt);
  ASSERT_TRUE(run.result);
  EXPECT_EQ(run.result->result, outcome::success);
  EXPECT_EQ(run.result->status, 200U);
  EXPECT_EQ(run.result->body, R"({"time": 7})");
  EXPECT_NE(upstream.last_request_head().find("GET /api/work HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(upstream.last_request_head().find("\r\nHost: 127.0.0.1:"), std::string::npos);
  // No id given, no id sent.
  EXPECT_EQ(upstream.last_request_head().find("X-Request-Id"), std::string::npos);
}

TEST(Client, StopDuringAReadClosesTheConnectionAtOnce) {
  fake_upstream upstream;
  upstream.fallback(reply::hang_up());
  const auto run = fetch_once(upstream.url(), 100ms);
  ASSERT_TRUE(run.result);
  EXPECT_EQ(run.result->result, outcome::cancelled);
  EXPECT_LT(run.took, 1s);
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() == 1; }, 2s));
}

TEST(Client, AStopRequestedBetweenStepsIsNotLost) {
  fake_upstream upstream;
  upstream.fallback(reply::hang_up());
  // Requested before the attempt's first step: every later step must see it.
  const auto run = fetch_once(upstream.url(), std::nullopt, true);
  ASSERT_TRUE(run.result);
  EXPECT_EQ(run.result->result, outcome::cancelled);
  EXPECT_LT(run.took, 1s);
  EXPECT_EQ(upstream.requests(), 0);
}

}  // namespace
}  // namespace smart::testing
