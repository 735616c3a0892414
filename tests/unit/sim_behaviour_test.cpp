// The simulator's plan: distributions, failure mix, determinism.

#include "behaviour.hpp"
#include "options.hpp"
#include "protocol.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

TEST(SimPlan, IdKeyIsFnv1aPlusAMultipleOfTheGoldenRatio) {
  // Pinned: bench/model.py computes the same numbers to replay a run.
  EXPECT_EQ(id_key("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(id_key("a", 0), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(id_key("a", 2), 0xaf63dc4c8601ec8cULL + 2 * 0x9e3779b97f4a7c15ULL);
  const behaviour b{latency_model{}, failure_mix{}, 7};
  // A fixed point of the whole draw, also checked by bench/model.py (REPLICA_CHECK).
  const auto p = b.plan_for(id_key("bench-1", 0));
  EXPECT_EQ(p.what, action::invalid_json);
  EXPECT_EQ(p.delay.count(), 144);
}

TEST(SimPlan, ByRequestIdEachIdHasItsOwnSequence) {
  behaviour keyed{latency_model{}, failure_mix{}, 7, plan_key::request_id};
  const behaviour plain{latency_model{}, failure_mix{}, 7};
  auto same = [](const plan& x, const plan& y) { return x.what == y.what && x.delay == y.delay; };
  // Interleaved ids: each one's k-th request gets the plan of (id, k).
  EXPECT_TRUE(same(keyed.next("x"), plain.plan_for(id_key("x", 0))));
  EXPECT_TRUE(same(keyed.next("y"), plain.plan_for(id_key("y", 0))));
  EXPECT_TRUE(same(keyed.next("x"), plain.plan_for(id_key("x", 1))));
  EXPECT_TRUE(same(keyed.next("x"), plain.plan_for(id_key("x", 2))));
  EXPECT_TRUE(same(keyed.next("y"), plain.plan_for(id_key("y", 1))));
  // No id: by arrival among the requests without one.
  EXPECT_TRUE(same(keyed.next(""), plain.plan_for(0)));
  EXPECT_TRUE(same(keyed.next(""), plain.plan_for(1)));

  // Keyed by arrival, ids make no difference.
  behaviour by_arrival{latency_model{}, failure_mix{}, 7};
  EXPECT_TRUE(same(by_arrival.next("x"), plain.plan_for(0)));
  EXPECT_TRUE(same(by_arrival.next("x"), plain.plan_for(1)));
}

TEST(SimPlan, ByRequestIdDrawsFollowTheMix) {
  behaviour keyed{latency_model{}, failure_mix{}, 7, plan_key::request_id};
  std::map<action, int> counts;
  constexpr int n = 50000;
  for (int i = 0; i < n; ++i) {
    ++counts[keyed.next("r" + std::to_string(i)).what];
  }
  EXPECT_NEAR(counts[action::ok] / double{n}, 0.84, 0.01);
  EXPECT_NEAR(counts[action::hang] / double{n}, 0.01, 0.003);
}

TEST(SimOptions, PlanByFlagAndEnvironment) {
  auto parse = [](std::vector<std::string_view> args, std::optional<std::string> env_value) {
    return parse_options(args, [env_value](std::string_view name) -> std::optional<std::string> {
      return name == "SIM_PLAN_BY" ? env_value : std::nullopt;
    });
  };
  EXPECT_EQ(parse({}, std::nullopt).opts.key, plan_key::arrival);
  EXPECT_EQ(parse({"--plan-by", "request-id"}, std::nullopt).opts.key, plan_key::request_id);
  EXPECT_EQ(parse({}, "request-id").opts.key, plan_key::request_id);
  EXPECT_EQ(parse({"--plan-by", "arrival"}, "request-id").opts.key, plan_key::arrival);
  const auto bad = parse({"--plan-by", "random"}, std::nullopt);
  EXPECT_EQ(bad.what, options_outcome::action::error);
  EXPECT_NE(bad.message.find("--plan-by"), std::string::npos) << bad.message;
}

TEST(SimOptions, WireFlagsAndTheirEnvironmentTwins) {
  auto parse = [](std::vector<std::string_view> args, std::map<std::string, std::string> env = {}) {
    return parse_options(args, [env](std::string_view name) -> std::optional<std::string> {
      const auto it = env.find(std::string{name});
      return it == env.end() ? std::nullopt : std::optional{it->second};
    });
  };
  const auto defaults = parse({}).opts.wire;
  EXPECT_FALSE(defaults.tls());
  EXPECT_EQ(defaults.http2, http2_mode::on);
  EXPECT_EQ(defaults.h2_max_streams, 100U);
  EXPECT_EQ(defaults.h2_goaway_after, 0U);
  EXPECT_FALSE(defaults.h2_stall_window);

  const auto set =
      parse({"--tls-cert", "c.pem", "--tls-key=k.pem", "--http2", "only", "--h2-max-streams", "3",
             "--h2-goaway-after", "5", "--h2-stall-window", "0"})
          .opts.wire;
  EXPECT_TRUE(set.tls());
  EXPECT_EQ(set.tls_key, "k.pem");
  EXPECT_EQ(set.http2, http2_mode::only);
  EXPECT_EQ(set.h2_max_streams, 3U);
  EXPECT_EQ(set.h2_goaway_after, 5U);
  EXPECT_EQ(set.h2_stall_window, 0U);

  const auto env = parse({"--h2-stall-window", "off"}, {{"SIM_HTTP2", "off"},
                                                        {"SIM_H2_MAX_STREAMS", "7"},
                                                        {"SIM_H2_GOAWAY_AFTER", "2"},
                                                        {"SIM_H2_STALL_WINDOW", "10"}})
                       .opts.wire;
  EXPECT_EQ(env.http2, http2_mode::off);
  EXPECT_EQ(env.h2_max_streams, 7U);
  EXPECT_EQ(env.h2_goaway_after, 2U);
  EXPECT_FALSE(env.h2_stall_window);  // the flag wins

  for (const auto& bad : std::vector<std::vector<std::string_view>>{
           {"--http2", "yes"},
           {"--h2-max-streams", "0"},
           {"--h2-goaway-after", "-1"},
           {"--h2-stall-window", "small"},
           {"--tls-cert", "c.pem"},  // without its key
       }) {
    const auto out = parse(bad);
    EXPECT_EQ(out.what, options_outcome::action::error) << bad[0];
    EXPECT_NE(out.message.find(bad[0] == "--tls-cert" ? "--tls-key" : bad[0]), std::string::npos)
        << out.message;
  }
}

TEST(SimAnswer, EachPlanAnswersAsOnHttp1) {
  plan p{action::ok, milliseconds{42}};
  EXPECT_EQ(answer_for(p, "", 0).body, R"({"time": 42})");
  EXPECT_EQ(answer_for(p, R"({"time": 1})", 0).body, R"({"time": 1})");
  p.what = action::server_error;
  EXPECT_EQ(answer_for(p, "", 0).status, 500U);
  p.what = action::too_many;
  EXPECT_EQ(answer_for(p, "", 0).status, 429U);
  p.what = action::invalid_json;
  EXPECT_EQ(answer_for(p, "", 0).status, 200U);
  EXPECT_EQ(answer_for(p, "", 1).body, invalid_bodies[1]);
  EXPECT_EQ(answer_for(p, "", 5).body, invalid_bodies[1]);
}

TEST(SimStats, RenderEveryCounterAsJson) {
  sim_stats s;
  s.opened(wire::h2c);
  s.opened(wire::h2c);
  s.closed(wire::h2c);
  count(s.streams_cancelled);
  s.open_streams(4);
  s.open_streams(2);
  const auto json = s.to_json();
  EXPECT_NE(json.find(R"("h2c":{"opened":2,"open":1})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("streams_cancelled":1)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("peak_open_streams":4)"), std::string::npos) << json;
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

}  // namespace
}  // namespace smart::sim
