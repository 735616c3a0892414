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
  EXPECT_GE(scrape("smart_upstream_connections_opened_total"), 3);
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

}  // namespace
}  // namespace smart::testing
