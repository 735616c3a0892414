// The simulator's plan: distributions, failure mix, determinism.

#include "behaviour.hpp"

#include <gtest/gtest.h>

#include <map>

namespace smart::sim {
namespace {

using std::chrono::milliseconds;

TEST(SimLatency, ParsesTheThreeShapes) {
  const auto fixed = parse_latency("fixed:25");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->sample(0.0), milliseconds{25});
  EXPECT_EQ(fixed->sample(0.99), milliseconds{25});

  const auto uniform = parse_latency("uniform:100:600");
  ASSERT_TRUE(uniform);
  EXPECT_EQ(uniform->sample(0.0), milliseconds{100});
  EXPECT_EQ(uniform->sample(0.5), milliseconds{350});

  const auto pareto = parse_latency("pareto:50:1.5:2000");
  ASSERT_TRUE(pareto);
  EXPECT_EQ(pareto->sample(0.0), milliseconds{50});
  EXPECT_GT(pareto->sample(0.99), milliseconds{500});
  EXPECT_EQ(pareto->sample(0.999999999), milliseconds{2000});  // capped

  for (const char* bad : {"", "fixed", "fixed:", "fixed:-1", "uniform:5", "uniform:6:5",
                          "pareto:0:1", "pareto:1:0", "normal:1:2", "fixed:1:2"}) {
    EXPECT_FALSE(parse_latency(bad)) << bad;
  }
}

TEST(SimMix, ParsesPercentages) {
  const auto none = parse_mix("none");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->total(), 0.0);
  const auto some = parse_mix("500=10,reset=2.5");
  ASSERT_TRUE(some);
  EXPECT_EQ(some->server_error, 10.0);
  EXPECT_EQ(some->reset, 2.5);
  EXPECT_EQ(some->too_many, 0.0);
  for (const char* bad : {"", "500", "500=x", "404=1", "500=60,429=60"}) {
    EXPECT_FALSE(parse_mix(bad)) << bad;
  }
}

TEST(SimPlan, SameSeedSamePlan) {
  const behaviour a{latency_model{}, failure_mix{}, 42};
  const behaviour b{latency_model{}, failure_mix{}, 42};
  const behaviour c{latency_model{}, failure_mix{}, 43};
  int differences = 0;
  for (std::uint64_t n = 0; n < 1000; ++n) {
    EXPECT_EQ(a.plan_for(n).delay, b.plan_for(n).delay);
    EXPECT_EQ(a.plan_for(n).what, b.plan_for(n).what);
    differences += a.plan_for(n).delay != c.plan_for(n).delay ? 1 : 0;
  }
  EXPECT_GT(differences, 900);
}

TEST(SimPlan, FollowsTheMixAndTheDistribution) {
  const behaviour b{latency_model{}, failure_mix{}, 7};  // defaults: 16 % failures
  std::map<action, int> counts;
  constexpr int n = 100000;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto p = b.plan_for(i);
    ++counts[p.what];
    if (p.what == action::too_many) {
      EXPECT_EQ(p.delay.count(), 0);
    } else {
      EXPECT_GE(p.delay.count(), 100);
      EXPECT_LE(p.delay.count(), 600);
    }
  }
  EXPECT_NEAR(counts[action::ok] / double{n}, 0.84, 0.01);
  EXPECT_NEAR(counts[action::server_error] / double{n}, 0.05, 0.005);
  EXPECT_NEAR(counts[action::too_many] / double{n}, 0.05, 0.005);
  EXPECT_NEAR(counts[action::invalid_json] / double{n}, 0.03, 0.005);
  EXPECT_NEAR(counts[action::hang] / double{n}, 0.01, 0.003);
  EXPECT_NEAR(counts[action::reset] / double{n}, 0.02, 0.003);
}

TEST(SimPlan, NoFailuresMeansAllOk) {
  const behaviour b{*parse_latency("fixed:0"), *parse_mix("none"), 1};
  for (std::uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(b.plan_for(i).what, action::ok);
    EXPECT_EQ(b.plan_for(i).delay.count(), 0);
  }
}

}  // namespace
}  // namespace smart::sim
