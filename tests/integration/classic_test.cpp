// The classic endpoints of spec §3: three attempts at t = 0, different rules
// for the answer. The fake answers requests in arrival order, and the three
// attempts arrive together, so scripts are arranged so that the result does
// not depend on which attempt gets which reply.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

class Classic : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  http_response call(const std::string& target) { return get(service.port(), target); }
};

TEST_F(Classic, FirstFiresThreeAtOnceAndAnswersWithTheFirstSuccess) {
  upstream.script({reply::status_code(500, 0), reply::ok(300, R"({"time": 300})"),
                   reply::ok(40, R"({"time": 40})")});
  const auto r = call("/api/first?timeout=2000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 40})");
  EXPECT_LT(millis(r.elapsed), 250ms);
  EXPECT_EQ(upstream.requests(), 3);  // all three started at t = 0
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "delay"}}), 0);
}

TEST_F(Classic, FirstAllFailedIs502AndNoSuccessIs504) {
  upstream.fallback(reply::status_code(503, 5));
  EXPECT_EQ(call("/api/first?timeout=2000").status, 502);

  upstream.fallback(reply::hang_up());
  const auto r = call("/api/first?timeout=300");
  EXPECT_EQ(r.status, 504);
  EXPECT_GE(millis(r.elapsed), 300ms);
  EXPECT_LT(millis(r.elapsed), 400ms);
}

TEST_F(Classic, AllAnswersWithEverySuccessInCompletionOrder) {
  upstream.script({reply::ok(20, R"({"time": 20})"), reply::ok(150, R"({"time": 150})"),
                   reply::status_code(500, 80)});
  const auto r = call("/api/all?timeout=2000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"([{"time": 20},{"time": 150}])");
  EXPECT_GE(millis(r.elapsed), 145ms);  // waited for every attempt
}

TEST_F(Classic, AllWithNoSuccessIs502) {
  upstream.fallback(reply::status_code(500, 5));
  const auto r = call("/api/all?timeout=2000");
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("upstream_failed"), std::string::npos);
}

TEST_F(Classic, AllIs504WhenAnAttemptIsStillRunningAtTheDeadline) {
  upstream.script({reply::ok(10), reply::ok(10), reply::hang_up()});
  const auto r = call("/api/all?timeout=300");
  EXPECT_EQ(r.status, 504);
  EXPECT_GE(millis(r.elapsed), 300ms);
  EXPECT_LT(millis(r.elapsed), 400ms);
}

TEST_F(Classic, WithinTimeoutAnswersAtOnceWhenAllHaveFinished) {
  upstream.script({reply::ok(10, R"({"time": 10})"), reply::status_code(500, 20),
                   reply::ok(30, R"({"time": 30})")});
  const auto r = call("/api/within-timeout?timeout=5000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"([{"time": 10},{"time": 30}])");
  EXPECT_LT(millis(r.elapsed), 1000ms);
}

TEST_F(Classic, WithinTimeoutAnswersAtTheDeadlineWithWhatSucceeded) {
  upstream.script({reply::ok(10, R"({"time": 10})"), reply::hang_up(), reply::hang_up()});
  const auto r = call("/api/within-timeout?timeout=300");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"([{"time": 10}])");
  EXPECT_GE(millis(r.elapsed), 300ms);
  EXPECT_LT(millis(r.elapsed), 400ms);
}

TEST_F(Classic, WithinTimeoutNeverFailsForUpstreamReasons) {
  upstream.fallback(reply::status_code(500, 5));
  const auto failed = call("/api/within-timeout?timeout=1000");
  EXPECT_EQ(failed.status, 200);
  EXPECT_EQ(failed.body, "[]");

  upstream.fallback(reply::hang_up());
  const auto late = call("/api/within-timeout?timeout=200");
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(late.body, "[]");
}

TEST_F(Classic, TimeoutIsValidatedLikeEverywhere) {
  for (const char* target :
       {"/api/first?timeout=0", "/api/all?timeout=-5", "/api/within-timeout?timeout=1.5"}) {
    const auto r = call(target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(r.body.find("invalid_timeout"), std::string::npos);
  }
  EXPECT_EQ(upstream.requests(), 0);
}

}  // namespace
}  // namespace smart::testing
