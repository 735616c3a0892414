// Graceful shutdown (spec §5): stop accepting, /readyz 503, every request
// already received is answered, then the service stops.

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

TEST(Shutdown, InFlightRequestsAreAnsweredAndNewConnectionsRefused) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  // Long enough that no answer leaves before the shutdown begins, even under
  // a sanitizer (those would rightly keep the connection open).
  upstream.fallback(reply::ok(1500, R"({"time": 1500})"));

  std::vector<std::future<http_response>> inflight;
  for (int i = 0; i < 50; ++i) {
    inflight.push_back(std::async(std::launch::async,
                                  [&] { return get(service.port(), "/api/smart?timeout=5000"); }));
  }
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() >= 50; }));

  const auto start = std::chrono::steady_clock::now();
  auto stopping = std::async(std::launch::async, [&] { service.stop(); });
  ASSERT_TRUE(eventually([&] { return !can_connect(service.port()); }, 2s))
      << "still accepting connections while shutting down";

  for (auto& f : inflight) {
    const auto r = f.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "close");
  }
  stopping.get();  // returns once everything is answered...
  // ... and not later than the longest deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Shutdown, ReadinessIs503ForRequestsReceivedWhileDraining) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::ok(600));

  // The first request keeps the service draining; the pipelined /readyz
  // behind it is answered during the drain.
  http_connection c{service.port()};
  c.send(
      "GET /api/smart?timeout=5000 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  auto stopping = std::async(std::launch::async, [&] { service.stop(); });

  const auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  const auto ready = c.read_response();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find(R"("error":"shutting_down")"), std::string::npos);
  EXPECT_EQ(ready->header("connection"), "close");
  stopping.get();
}

TEST(Shutdown, AttemptsWaitingForAConnectionAreServedDuringTheDrain) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.upstream_max_connections = 1;
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.fallback(reply::ok(300, R"({"time": 300})"));
  auto first = std::async(std::launch::async,
                          [&] { return get(service.port(), "/api/smart?timeout=5000"); });
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  auto second = std::async(std::launch::async,
                           [&] { return get(service.port(), "/api/smart?timeout=5000"); });
  // The second request is in and waits for the only upstream connection.
  ASSERT_TRUE(eventually([&] { return service.metric("smart_http_requests_in_flight") == 2; }));
  auto stopping = std::async(std::launch::async, [&] { service.stop(); });
  EXPECT_EQ(first.get().status, 200);
  const auto r = second.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.elapsed, 2s);  // served when the connection came back, not at its deadline
  stopping.get();
}

TEST(Shutdown, ABusyPollingServiceServesAndStopsLikeAnyOther) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.busy_poll = std::chrono::microseconds{2000};
  cfg.threads = 2;
  running_service service{cfg};
  upstream.fallback(reply::ok(5, R"({"time": 5})"));
  std::vector<std::future<http_response>> inflight;
  for (int i = 0; i < 20; ++i) {
    inflight.push_back(std::async(std::launch::async,
                                  [&] { return get(service.port(), "/api/smart?timeout=2000"); }));
  }
  for (auto& f : inflight) {
    const auto r = f.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"time": 5})");
  }
  // A hedge still fires on time while the threads poll.
  upstream.fallback(reply::ok(400, R"({"time": 400})"));
  const auto slow = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 1);
  const auto start = std::chrono::steady_clock::now();
  service.stop();  // the polling threads end when the work does
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Shutdown, IdleServiceStopsPromptlyAndClosesIdleConnections) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  http_connection idle{service.port()};
  idle.get("/healthz");
  ASSERT_TRUE(idle.read_response());
  const auto start = std::chrono::steady_clock::now();
  service.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(idle.closed_by_server(1s));
}

}  // namespace
}  // namespace smart::testing
