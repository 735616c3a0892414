// /metrics moves with behaviour (spec §7): each counter is asserted against
// the event that must move it, through the scrape a Prometheus server sees.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

class Metrics : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  // Reads a series from GET /metrics, as Prometheus would.
  double scrape(std::string_view name,
                std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) {
    return metric_value(get(service.port(), "/metrics").body, name, labels);
  }
};

TEST_F(Metrics, AFailureOfAttemptOneCountsAHedgeForFailure) {
  upstream.script({reply::status_code(500, 5), reply::ok(10), reply::ok(10)});
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  EXPECT_EQ(scrape("smart_hedges_total", {{"reason", "failure"}}), 1);
  EXPECT_EQ(scrape("smart_hedges_total", {{"reason", "delay"}}), 0);
  EXPECT_EQ(scrape("smart_upstream_attempts_total", {{"outcome", "http_error"}}), 1);
}

TEST_F(Metrics, TheWinningAttemptIsCounted) {
  upstream.script({reply::hang_up(), reply::ok(20), reply::hang_up()});
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  EXPECT_EQ(scrape("smart_hedges_total", {{"reason", "delay"}}), 1);
  EXPECT_EQ(scrape("smart_hedge_wins_total", {{"attempt", "1"}}), 0);
  EXPECT_EQ(scrape("smart_hedge_wins_total", {{"attempt", "2"}}) +
                scrape("smart_hedge_wins_total", {{"attempt", "3"}}),
            1);
  EXPECT_EQ(scrape("smart_upstream_attempts_total", {{"outcome", "success"}}), 1);
  EXPECT_EQ(scrape("smart_upstream_attempts_total", {{"outcome", "cancelled"}}), 2);
}

TEST_F(Metrics, ADeadlineShowsAsA504) {
  upstream.fallback(reply::hang_up());
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=100").status, 504);
  EXPECT_EQ(scrape("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "504"}}), 1);
  EXPECT_EQ(scrape("smart_upstream_attempts_total", {{"outcome", "timeout"}}), 1);
}

TEST_F(Metrics, AResetIsCountedAsReset) {
  upstream.script({reply::reset_after(0)});
  upstream.fallback(reply::ok(5));
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  EXPECT_EQ(scrape("smart_upstream_attempts_total", {{"outcome", "reset"}}), 1);
}

TEST_F(Metrics, RequestsDurationsInFlightAndConnections) {
  upstream.fallback(reply::ok(5));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(get(service.port(), "/api/first?timeout=1000").status, 200);
  }
  EXPECT_EQ(get(service.port(), "/nope").status, 404);
  EXPECT_EQ(scrape("smart_http_requests_total", {{"route", "/api/first"}, {"code", "200"}}), 3);
  EXPECT_EQ(scrape("smart_http_requests_total", {{"route", "other"}, {"code", "404"}}), 1);
  EXPECT_EQ(scrape("smart_http_request_duration_seconds_count", {{"route", "/api/first"}}), 3);
  EXPECT_EQ(
      scrape("smart_http_request_duration_seconds_bucket", {{"route", "/api/first"}, {"le", "60"}}),
      3);
  // Only the scrape itself is in flight while it is rendered: the other
  // requests were counted out before their responses left.
  EXPECT_EQ(scrape("smart_http_requests_in_flight"), 1);
  EXPECT_GE(scrape("smart_upstream_connections_opened_total", {{"protocol", "http/1.1"}}), 3);
  EXPECT_EQ(scrape("smart_upstream_connections_in_use"), 0);
  EXPECT_EQ(scrape("smart_upstream_attempt_duration_seconds_count", {{"outcome", "success"}}),
            scrape("smart_upstream_attempts_total", {{"outcome", "success"}}));
}

TEST_F(Metrics, EverySeriesExistsFromStartUp) {
  const auto body = get(service.port(), "/metrics").body;
  for (const char* series :
       {R"(smart_http_requests_total{code="502",route="/api/smart"} 0)",
        R"(smart_http_requests_total{code="503",route="/api/within-timeout"} 0)",
        R"(smart_upstream_attempts_total{outcome="tls_error"} 0)",
        R"(smart_hedges_total{reason="delay"} 0)", R"(smart_hedge_wins_total{attempt="3"} 0)",
        R"(smart_upstream_attempt_duration_seconds_bucket{outcome="timeout",le="0.001"} 0)",
        R"(smart_http_request_duration_seconds_bucket{route="/api/smart",le="60"} 0)"}) {
    EXPECT_NE(body.find(series), std::string::npos) << series;
  }
  EXPECT_NE(body.find(R"(smart_build_info{revision=")"), std::string::npos);
  EXPECT_NE(body.find(R"(version="0.1.0"} 1)"), std::string::npos);
}

TEST_F(Metrics, ProcessMetricsAreExported) {
  const auto body = get(service.port(), "/metrics").body;
  const double start = metric_value(body, "process_start_time_seconds", {});
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(metric_value(body, "process_resident_memory_bytes", {}), 1e6);
  EXPECT_GT(metric_value(body, "process_open_fds", {}), 3);
  EXPECT_GT(metric_value(body, "process_max_fds", {}), 3);
  EXPECT_NE(body.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
}

TEST(MetricsCost, OneRenderingServesEveryScrapeWithinTheCacheTime) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.metrics_cache = 60s;
  running_service service{cfg};
  const auto first = get(service.port(), "/metrics");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  ASSERT_EQ(get(service.port(), "/api/nowhere").status, 404);
  // The same rendering, although a counter has moved since; the next one
  // after the cache time would show it (see Metrics above, with no cache).
  const auto second = get(service.port(), "/metrics");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(
      metric_value(second.body, "smart_http_requests_total", {{"route", "other"}, {"code", "404"}}),
      0);
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "other"}, {"code", "404"}}), 1);
}

TEST(MetricsListener, MetricsAndHealthOnTheirOwnAddressAndNotMetricsOnTheApiPort) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.metrics_host = "127.0.0.1";
  cfg.metrics_port = 0;
  running_service service{cfg};
  const auto admin = service.get().metrics_port();
  ASSERT_NE(admin, service.port());
  const auto scraped = get(admin, "/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.body.find("smart_http_requests_total"), std::string::npos);
  EXPECT_EQ(get(admin, "/healthz").status, 200);
  EXPECT_EQ(get(admin, "/readyz").status, 200);
  for (const char* elsewhere : {"/api/smart?timeout=100", "/", "/openapi.json"}) {
    EXPECT_EQ(get(admin, elsewhere).status, 404) << elsewhere;
  }
  EXPECT_EQ(get(service.port(), "/metrics").status, 404);
  EXPECT_EQ(get(service.port(), "/healthz").status, 200);  // load balancers check here
  upstream.fallback(reply::ok(1));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=1000").status, 200);
  // Both listeners drain on shutdown.
  service.stop();
  EXPECT_FALSE(can_connect(admin));
}

}  // namespace
}  // namespace smart::testing
