// /api/smart against the scripted fake upstream: every sentence of spec §2.
// Delays are at least 10x apart from the bounds asserted, which are loose.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

class Hedging : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  http_response smart(const std::string& query = "?timeout=1500") {
    return get(service.port(), "/api/smart" + query);
  }
};

TEST_F(Hedging, FastSuccessIsTheAnswerAndNothingElseStarts) {
  upstream.script({reply::ok(20, R"({"time": 160})")});
  const auto r = smart();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 160})");  // the upstream's body as received
  EXPECT_EQ(r.header("content-type"), "application/json");
  // Well past the hedge delay, still a single upstream request.
  EXPECT_FALSE(upstream.wait_until([&] { return upstream.requests() > 1; }, 500ms));
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 0);
  EXPECT_EQ(service.metric("smart_hedge_wins_total", {{"attempt", "1"}}), 1);
}

TEST_F(Hedging, SlowAttemptOneIsNotCutOffAtTheDelay) {
  // Attempt 1 answers at 600 ms; the hedges (at 300 ms) hang.
  upstream.script({reply::ok(600, R"({"time": 1})"), reply::hang_up(), reply::hang_up()});
  const auto r = smart();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 1})");
  EXPECT_GE(millis(r.elapsed), 590ms);
  EXPECT_LT(millis(r.elapsed), 1400ms);
  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 1);
  EXPECT_EQ(service.metric("smart_hedge_wins_total", {{"attempt", "1"}}), 1);
  // Both hedges are cancelled: their connections are closed at once.
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() >= 2; }, 2s));
}

TEST_F(Hedging, HedgesStartTogetherAtTheDelayAndOneCanWin) {
  upstream.script(
      {reply::hang_up(), reply::ok(50, R"({"time": 2})"), reply::ok(50, R"({"time": 2})")});
  const auto r = smart();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 2})");
  // 300 ms delay + 50 ms of work.
  EXPECT_GE(millis(r.elapsed), 340ms);
  EXPECT_LT(millis(r.elapsed), 1000ms);
  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(service.metric("smart_hedge_wins_total", {{"attempt", "1"}}), 0);
  EXPECT_EQ(service.metric("smart_hedge_wins_total", {{"attempt", "2"}}) +
                service.metric("smart_hedge_wins_total", {{"attempt", "3"}}),
            1);
  // The hanging attempt 1 is cancelled: the upstream sees its connection close.
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() >= 1; }, 2s));
}

TEST_F(Hedging, EarlyFailureOfAttemptOneStartsTheHedgesAtOnce) {
  upstream.script({reply::status_code(500, 10), reply::ok(30, R"({"time": 3})"),
                   reply::ok(30, R"({"time": 3})")});
  const auto r = smart();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 3})");
  EXPECT_LT(millis(r.elapsed), 250ms);  // did not wait for the 300 ms delay
  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "failure"}}), 1);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 0);
}

TEST_F(Hedging, FailuresNeverEndTheRaceWhileAnAttemptIsOutstanding) {
  upstream.script(
      {reply::status_code(500, 5), reply::status_code(503, 5), reply::ok(200, R"({"time": 4})")});
  upstream.fallback(reply::status_code(503, 5));
  const auto r = smart();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"time": 4})");
}

TEST_F(Hedging, AllFailedIs502AtOnce) {
  upstream.fallback(reply::status_code(500, 10));
  const auto r = smart("?timeout=5000");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(r.body.find(R"("error":"upstream_failed")"), std::string::npos);
  EXPECT_LT(millis(r.elapsed), 1000ms);  // far from the 5 s deadline
  EXPECT_EQ(upstream.requests(), 3);
}

TEST_F(Hedging, DeadlineIs504DeliveredByT) {
  upstream.fallback(reply::hang_up());
  const auto r = smart("?timeout=500");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find(R"("error":"timeout")"), std::string::npos);
  EXPECT_GE(millis(r.elapsed), 500ms);
  EXPECT_LT(millis(r.elapsed), 600ms);
  EXPECT_EQ(upstream.requests(), 3);
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "504"}}),
            1);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "timeout"}}), 3);
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() == 3; }, 2s));
}

TEST_F(Hedging, TimeoutBelowTheDelayRunsOnlyAttemptOne) {
  upstream.fallback(reply::hang_up());
  const auto r = smart("?timeout=200");
  EXPECT_EQ(r.status, 504);
  EXPECT_LT(millis(r.elapsed), 300ms);
  // No attempt starts at or after the deadline.
  EXPECT_FALSE(upstream.wait_until([&] { return upstream.requests() > 1; }, 300ms));
}

TEST_F(Hedging, TimeoutBelowTheDelayStillHedgesOnEarlyFailure) {
  upstream.script({reply::status_code(429, 5), reply::ok(20, R"({"time": 5})"),
                   reply::ok(20, R"({"time": 5})")});
  const auto r = smart("?timeout=200");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 5})");
  EXPECT_EQ(upstream.requests(), 3);
}

TEST_F(Hedging, ClientDisconnectCancelsTheUpstreamWork) {
  upstream.fallback(reply::hang_up());
  {
    http_connection c{service.port()};
    c.get("/api/smart?timeout=10000");
    ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  }  // the client goes away
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() == 1; }, 1s));
  // No hedge starts for a request nobody waits for.
  EXPECT_FALSE(upstream.wait_until([&] { return upstream.requests() > 1; }, 400ms));
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "cancelled"}}), 1);
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "499"}}),
            1);
}

}  // namespace
}  // namespace smart::testing

namespace smart::testing {
namespace {

TEST(HedgingLimits, AbsentTimeoutIsBoundedByTheMaximum) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.max_timeout = std::chrono::milliseconds{700};
  running_service service{cfg};
  upstream.fallback(reply::hang_up());
  const auto r = get(service.port(), "/api/smart");
  EXPECT_EQ(r.status, 504);
  EXPECT_GE(millis(r.elapsed), std::chrono::milliseconds{700});
  EXPECT_LT(millis(r.elapsed), std::chrono::milliseconds{800});

  upstream.fallback(reply::ok(10, R"({"time": 9})"));
  const auto ok = get(service.port(), "/api/smart");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, R"({"time": 9})");
}

}  // namespace
}  // namespace smart::testing

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

TEST(HedgingTuning, ASpentBudgetLeavesAttemptOneAlone) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_delay = 50ms;
  cfg.hedge_budget_percent = 1;  // 1 % of 8 first attempts, plus a reserve of 10 per window
  running_service service{cfg};
  upstream.fallback(reply::ok(150, R"({"time": 150})"));
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  }
  // Five requests hedged (2 hedge attempts each); the budget was spent then.
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 5);
  EXPECT_EQ(service.metric("smart_hedges_suppressed_total"), 6);  // attempts
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.requests() == 8 + 10; }, 2s));
}

TEST(HedgingTuning, AShortBudgetStillRetriesAFailureWithWhatIsLeft) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_delay = 50ms;
  cfg.hedge_count = 3;
  cfg.hedge_budget_percent = 1;  // 1 % of the first attempts, plus a reserve of 10 per window
  running_service service{cfg};
  // Three slow requests spend 9 of the 10 hedge attempts; then a failure.
  upstream.fallback(reply::ok(150, R"({"time": 150})"));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  }
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 3 + 9; }, 2s));
  // The fourth request's attempt 1 fails at once: one retry, out of the one
  // attempt left, rather than none.
  upstream.script({reply::status_code(500)});
  upstream.fallback(reply::ok(10, R"({"time": 10})"));
  const auto r = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 10})");
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "failure"}}), 1);
  EXPECT_EQ(upstream.requests(), 12 + 2);
  // A further slow request: nothing is left for slowness.
  upstream.fallback(reply::ok(150, R"({"time": 150})"));
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 3);
}

TEST(HedgingTuning, TheAdaptiveDelayHedgesSoonerOnAFastUpstream) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_percentile = 90;
  cfg.hedge_delay_floor = 20ms;
  running_service service{cfg};
  upstream.fallback(reply::ok(5, R"({"time": 5})"));
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  }
  // Let the cached delay refresh (at most every 100 ms), then check it.
  ASSERT_TRUE(eventually([&] {
    get(service.port(), "/api/smart?timeout=2000");
    return service.metric("smart_hedge_delay_seconds") <= 0.021;
  }));
  // Attempt 1 hangs: the hedges now start after about 20 ms, not 300.
  upstream.script({reply::hang_up()});
  const auto r = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(r.elapsed), 200ms);
}

}  // namespace
}  // namespace smart::testing
