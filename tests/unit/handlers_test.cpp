// The edge's decisions: which policy each endpoint runs, and which status a
// race's verdict becomes (spec §2, §3, §4).

#include "smart/edge/handlers.hpp"
#include "smart/config.hpp"

#include <gtest/gtest.h>

namespace smart::edge {
namespace {

using hedge::rule;
using hedge::verdict;

TEST(Plan, EachEndpointRunsItsPolicy) {
  const config cfg;
  const auto smart = plan_api(route::smart, "timeout=1500", cfg);
  EXPECT_EQ(smart.policy.initial_attempts, 1);
  EXPECT_EQ(smart.policy.hedge_attempts, 2);
  EXPECT_EQ(smart.policy.hedge_delay, std::chrono::milliseconds{300});
  EXPECT_EQ(smart.policy.decide, rule::first_success);
  EXPECT_EQ(smart.timeout.count(), 1500);

  for (const auto& [r, expected] : {std::pair{route::first, rule::first_success},
                                    {route::all, rule::all_finished},
                                    {route::within_timeout, rule::by_deadline}}) {
    const auto p = plan_api(r, "timeout=100", cfg);
    EXPECT_EQ(p.policy.initial_attempts, 3);
    EXPECT_EQ(p.policy.hedge_attempts, 0);
    EXPECT_EQ(p.policy.decide, expected);
  }
}

TEST(Plan, ConfiguredHedgingIsUsed) {
  config cfg;
  cfg.hedge_count = 4;
  cfg.hedge_delay = std::chrono::milliseconds{120};
  const auto p = plan_api(route::smart, "", cfg);
  EXPECT_EQ(p.policy.hedge_attempts, 4);
  EXPECT_EQ(p.policy.hedge_delay, std::chrono::milliseconds{120});
}

TEST(Plan, AbsentTimeoutIsBoundedByTheMaximum) {
  config cfg;
  cfg.max_timeout = std::chrono::milliseconds{7000};
  const auto p = plan_api(route::smart, "", cfg);
  EXPECT_FALSE(p.reject);
  EXPECT_FALSE(p.timeout_given);
  EXPECT_EQ(p.timeout.count(), 7000);
}

TEST(Plan, InvalidTimeoutIsA400WithACode) {
  const auto p = plan_api(route::all, "timeout=abc", config{});
  ASSERT_TRUE(p.reject);
  EXPECT_EQ(p.reject->status, 400U);
  EXPECT_NE(p.reject->body.find(R"("error":"invalid_timeout")"), std::string::npos);
}

TEST(Verdicts, MapToStatusCodes) {
  const auto plan = plan_api(route::smart, "timeout=1500", config{});
  hedge::race_result r;
  r.decided = verdict::success;
  r.body = R"({"time": 160})";
  auto resp = race_response(r, plan);
  EXPECT_EQ(resp.status, 200U);
  EXPECT_EQ(resp.payload(), R"({"time": 160})");
  EXPECT_EQ(resp.content_type, json_type);

  r.decided = verdict::collected;
  r.body = R"([{"time": 1},{"time": 2}])";
  EXPECT_EQ(race_response(r, plan).status, 200U);

  r.decided = verdict::all_failed;
  r.attempts_started = 3;
  resp = race_response(r, plan);
  EXPECT_EQ(resp.status, 502U);
  EXPECT_NE(resp.body.find(R"("error":"upstream_failed")"), std::string::npos);

  r.decided = verdict::deadline;
  resp = race_response(r, plan);
  EXPECT_EQ(resp.status, 504U);
  EXPECT_NE(resp.body.find(R"("error":"timeout")"), std::string::npos);
  EXPECT_NE(resp.body.find("1500 ms"), std::string::npos);
}

}  // namespace
}  // namespace smart::edge
