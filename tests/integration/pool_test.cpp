// Upstream connections: keep-alive reuse, stale pooled connections, the cap,
// and concurrency (spec §1, §5).

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

TEST(Pool, SequentialCallsReuseKeepAliveConnections) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::ok(1));
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  }
  EXPECT_EQ(upstream.requests(), 20);
  EXPECT_LE(upstream.connections(), 3);
  EXPECT_EQ(service.metric("smart_upstream_connections_opened_total", {{"protocol", "http/1.1"}}),
            upstream.connections());
  EXPECT_GE(service.get().idle_upstream_connections(), 1U);
}

TEST(Pool, AConnectionTheUpstreamClosedWhileIdleDoesNotCostTheAttempt) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  auto first = reply::ok(1);
  first.close_idle_after = 20ms;  // the upstream's keep-alive timeout
  upstream.script({first});
  upstream.fallback(reply::ok(1));
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.open_connections() == 0; }));

  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_EQ(upstream.requests(), 2);  // the dead connection carried no request
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "success"}}), 2);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "reset"}}), 0);
}

TEST(Pool, AReusedConnectionThatDiesOnTheRequestIsRetriedOnAFreshOne) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  // The second request on the first connection is met with a close: the
  // race where an upstream drops a keep-alive connection as it is reused.
  upstream.script({reply::ok(1), reply::close_after_ms(0)});
  upstream.fallback(reply::ok(1, R"({"time": 2})"));
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 2})");
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "failure"}}), 0);
}

TEST(Pool, AResetAfterTheUpstreamHeldTheRequestIsTheAttemptsFailure) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  // The second request on the kept-alive connection is reset after 100 ms of
  // work: the upstream failed it. No quiet retry: the failure shows and the
  // hedges start at once.
  upstream.script({reply::ok(1), reply::reset_after(100)});
  upstream.fallback(reply::ok(1, R"({"time": 2})"));
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 2})");
  EXPECT_GE(millis(r.elapsed), 100ms);
  EXPECT_LT(millis(r.elapsed), 250ms);  // not the 300 ms hedge delay
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "reset"}}), 1);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "failure"}}), 1);
}

TEST(Pool, AnAttemptWaitingForAConnectionHonoursItsDeadline) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.upstream_max_connections = 1;
  running_service service{cfg};
  upstream.fallback(reply::hang_up());

  auto holder = std::async(std::launch::async,
                           [&] { return get(service.port(), "/api/smart?timeout=1200"); });
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));

  const auto waiting = get(service.port(), "/api/smart?timeout=300");
  EXPECT_EQ(waiting.status, 504);
  EXPECT_GE(millis(waiting.elapsed), 300ms);
  EXPECT_LT(millis(waiting.elapsed), 400ms);
  EXPECT_EQ(upstream.connections(), 1);  // the cap held
  EXPECT_EQ(holder.get().status, 504);
}

TEST(Pool, ConnectionsFreedByCancellationServeWaiters) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.upstream_max_connections = 2;
  running_service service{cfg};
  upstream.fallback(reply::ok(50, R"({"time": 50})"));
  std::vector<std::future<http_response>> calls;
  for (int i = 0; i < 10; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return get(service.port(), "/api/smart?timeout=5000"); }));
  }
  for (auto& c : calls) {
    EXPECT_EQ(c.get().status, 200);
  }
  EXPECT_LE(upstream.connections(), 2);
}

TEST(Pool, ConcurrentCallsAreNotSerialized) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  running_service service{cfg};
  upstream.fallback(reply::ok(200, R"({"time": 200})"));
  constexpr int n = 300;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<http_response>> calls;
  calls.reserve(n);
  for (int i = 0; i < n; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return get(service.port(), "/api/smart?timeout=10000"); }));
  }
  int ok = 0;
  for (auto& c : calls) {
    ok += c.get().status == 200 ? 1 : 0;
  }
  EXPECT_EQ(ok, n);
  // Serialized, 300 calls of 200 ms would take a minute.
  EXPECT_LT(millis(std::chrono::steady_clock::now() - start), 5000ms);
}

}  // namespace
}  // namespace smart::testing
