// The upstream client on its own: a stop request ends an attempt at any step,
// including one that was requested between two steps (stop requests are
// sticky, unlike a single per-operation cancellation).

#include "smart/upstream/client.hpp"
#include "smart/net.hpp"

#include "counting_stats.hpp"
#include "fake_upstream.hpp"
#include "peers.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

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
client_run fetch_once(upstream::client_options options,
                      std::optional<std::chrono::milliseconds> stop_after,
                      bool stop_first = false) {
  net::io_context ioc;
  counting_stats m;
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

client_run fetch_once(const std::string& url, std::optional<std::chrono::milliseconds> stop_after,
                      bool stop_first = false) {
  upstream::client_options options;
  options.url = url;
  return fetch_once(options, stop_after, stop_first);
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

TEST(Client, AnIdleHttp2ConnectionIsCheckedByPingAndKept) {
  nghttpd_server upstream{{.verbose = true}};
  net::io_context ioc;
  counting_stats m;
  upstream::client_options options;
  options.url = upstream.url();
  options.version = upstream_http::http2;
  options.ping_interval = 50ms;
  upstream::client c{ioc.get_executor(), options, m};
  c.start();
  std::vector<outcome> outcomes;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        stop_signal stop;
        outcomes.push_back((co_await c.fetch(stop)).result);
        net::steady_timer idle{co_await net::this_coro::executor, 400ms};
        co_await idle.async_wait(net::use_awaitable);  // the connection idles
        outcomes.push_back((co_await c.fetch(stop)).result);
        c.stop();  // the session ends, and with it the run
      },
      net::detached);
  ioc.run_for(5s);
  EXPECT_EQ(outcomes, (std::vector{outcome::success, outcome::success}));
  EXPECT_TRUE(upstream.printed("recv PING frame", 2s));
  EXPECT_EQ(m.http2_connections_opened(), 1);  // answered PINGs keep it
}

TEST(Client, AnHttp2ConnectionThatStopsAnsweringIsClosedWhenItsPingGoesUnanswered) {
  // A server that takes the connection and never sends a byte.
  net::io_context server_ioc;
  net::ip::tcp::acceptor acceptor{server_ioc, {net::ip::make_address("127.0.0.1"), 0}};
  net::ip::tcp::socket held{server_ioc};
  std::array<char, 4096> sink{};
  std::function<void(const error_code&, std::size_t)> drain = [&](const error_code& ec,
                                                                  std::size_t /*n*/) {
    if (!ec) {
      held.async_read_some(net::buffer(sink), drain);
    }
  };
  acceptor.async_accept(held, [&](const error_code& ec) {
    if (!ec) {
      drain({}, 0);
    }
  });
  std::thread server{[&] { server_ioc.run_for(5s); }};

  upstream::client_options options;
  options.url =
      "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/api/work";
  options.version = upstream_http::http2;
  options.ping_interval = 100ms;
  const auto run = fetch_once(options, std::nullopt);  // no stop: only the PING can end it
  server_ioc.stop();
  server.join();
  ASSERT_TRUE(run.result);
  EXPECT_EQ(run.result->result, outcome::reset);
  EXPECT_EQ(run.result->error, net::error::timed_out);
  EXPECT_LT(run.took, 2s);
}

}  // namespace
}  // namespace smart::testing
