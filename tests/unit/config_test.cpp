// Configuration: flags, environment twins, precedence, validation (spec §6).

#include "smart/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace smart {
namespace {

using action = parse_outcome::action;

struct fixture {
  std::map<std::string, std::string, std::less<>> env;
  parse_outcome parse(std::vector<std::string_view> args) const {
    return parse_config(args, [this](std::string_view name) -> std::optional<std::string> {
      if (const auto it = env.find(name); it != env.end()) {
        return it->second;
      }
      return std::nullopt;
    });
  }
};

TEST(Config, DefaultsFollowTheSpecification) {
  const auto out = fixture{}.parse({});
  ASSERT_EQ(out.what, action::run);
  const auto& c = out.cfg;
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.upstream_url, "https://exponea-engineering-assignment.appspot.com/api/work");
  EXPECT_EQ(c.hedge_delay.count(), 300);
  EXPECT_EQ(c.hedge_count, 2);
  EXPECT_EQ(c.max_timeout.count(), 60000);
  EXPECT_GE(c.threads, 1);
  EXPECT_EQ(c.max_inflight, 4096);
  EXPECT_EQ(c.upstream_max_connections, 1024);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_file, "api.log");
}

TEST(Config, EveryOptionHasAFlagAndAnEnvironmentTwin) {
  const std::vector<std::tuple<std::string_view, std::string_view, std::string_view>> cases = {
      {"--host", "SMART_HOST", "127.0.0.1"},
      {"--port", "SMART_PORT", "9123"},
      {"--upstream-url", "SMART_UPSTREAM_URL", "http://localhost:9000/api/work"},
      {"--hedge-delay-ms", "SMART_HEDGE_DELAY_MS", "250"},
      {"--hedge-count", "SMART_HEDGE_COUNT", "3"},
      {"--max-timeout-ms", "SMART_MAX_TIMEOUT_MS", "5000"},
      {"--threads", "SMART_THREADS", "4"},
      {"--max-inflight", "SMART_MAX_INFLIGHT", "100"},
      {"--upstream-max-connections", "SMART_UPSTREAM_MAX_CONNECTIONS", "8"},
      {"--log-level", "SMART_LOG_LEVEL", "debug"},
      {"--log-file", "SMART_LOG_FILE", "/tmp/x.log"},
      {"--log-format", "SMART_LOG_FORMAT", "json"},
      {"--header-timeout-ms", "SMART_HEADER_TIMEOUT_MS", "2000"},
      {"--keepalive-timeout-ms", "SMART_KEEPALIVE_TIMEOUT_MS", "3000"},
      {"--max-connections", "SMART_MAX_CONNECTIONS", "100"},
      {"--hedge-budget-percent", "SMART_HEDGE_BUDGET_PERCENT", "25"},
      {"--hedge-percentile", "SMART_HEDGE_PERCENTILE", "95.5"},
      {"--hedge-delay-floor-ms", "SMART_HEDGE_DELAY_FLOOR_MS", "50"},
      {"--access-log", "SMART_ACCESS_LOG", "off"},
      {"--busy-poll-us", "SMART_BUSY_POLL_US", "500"},
      {"--metrics-listen", "SMART_METRICS_LISTEN", "127.0.0.1:9100"},
      {"--metrics-cache-ms", "SMART_METRICS_CACHE_MS", "250"},
  };
  for (const auto& [flag, env, value] : cases) {
    fixture by_env;
    by_env.env[std::string{env}] = std::string{value};
    const auto a = by_env.parse({});
    const auto b = fixture{}.parse({flag, value});
    ASSERT_EQ(a.what, action::run) << env << ": " << a.message;
    ASSERT_EQ(b.what, action::run) << flag << ": " << b.message;
    EXPECT_EQ(describe(a.cfg), describe(b.cfg)) << flag;
    EXPECT_NE(describe(a.cfg), describe(fixture{}.parse({}).cfg)) << flag << " changed nothing";
  }
}

TEST(Config, FlagWinsOverEnvironment) {
  fixture f;
  f.env["SMART_PORT"] = "7000";
  EXPECT_EQ(f.parse({"--port=7001"}).cfg.port, 7001);
  EXPECT_EQ(f.parse({}).cfg.port, 7000);
}

TEST(Config, HedgingRefinementsAreOffByDefault) {
  const auto c = fixture{}.parse({}).cfg;
  EXPECT_EQ(c.hedge_budget_percent, 0);
  EXPECT_EQ(c.hedge_percentile, 0);
  const auto on = fixture{}.parse({"--hedge-percentile=99.9", "--hedge-budget-percent=7.5"}).cfg;
  EXPECT_DOUBLE_EQ(on.hedge_percentile, 99.9);
  EXPECT_DOUBLE_EQ(on.hedge_budget_percent, 7.5);
}

TEST(Config, BusyPollingIsOffByDefault) {
  EXPECT_EQ(fixture{}.parse({}).cfg.busy_poll.count(), 0);
  EXPECT_EQ(fixture{}.parse({"--busy-poll-us=250"}).cfg.busy_poll.count(), 250);
}

TEST(Config, LogsAreTextUnlessJsonIsAskedFor) {
  EXPECT_FALSE(fixture{}.parse({}).cfg.log_json);
  EXPECT_FALSE(fixture{}.parse({"--log-format=text"}).cfg.log_json);
  EXPECT_TRUE(fixture{}.parse({"--log-format=json"}).cfg.log_json);
}

TEST(Config, EmptyLogFileMeansConsoleOnly) {
  EXPECT_EQ(fixture{}.parse({"--log-file="}).cfg.log_file, "");
}

TEST(Config, InvalidValuesNameTheOption) {
  for (const auto& [args, name] :
       std::vector<std::pair<std::vector<std::string_view>, std::string_view>>{
           {{"--port", "70000"}, "--port"},
           {{"--port=-1"}, "--port"},
           {{"--hedge-delay-ms", "abc"}, "--hedge-delay-ms"},
           {{"--hedge-count", "9"}, "--hedge-count"},
           {{"--max-timeout-ms", "0"}, "--max-timeout-ms"},
           {{"--threads", "0"}, "--threads"},
           {{"--max-inflight", "0"}, "--max-inflight"},
           {{"--max-connections", "0"}, "--max-connections"},
           {{"--hedge-budget-percent", "-1"}, "--hedge-budget-percent"},
           {{"--hedge-budget-percent", "2.55"}, "--hedge-budget-percent"},
           {{"--hedge-percentile", "40"}, "--hedge-percentile"},
           {{"--hedge-percentile", "100"}, "--hedge-percentile"},
           {{"--upstream-max-connections", "0"}, "--upstream-max-connections"},
           {{"--log-level", "loud"}, "--log-level"},
           {{"--log-format", "JSON"}, "--log-format"},
           {{"--log-format", ""}, "--log-format"},
           {{"--upstream-url", "ftp://x"}, "--upstream-url"},
           {{"--upstream-url", "http://"}, "--upstream-url"},
           {{"--access-log", "maybe"}, "--access-log"},
           {{"--busy-poll-us", "1000001"}, "--busy-poll-us"},
           {{"--busy-poll-us", "-5"}, "--busy-poll-us"},
           {{"--host", ""}, "--host"},
           {{"--host", "bad host"}, "--host"},
           {{"--host", "[::1]"}, "--host"},
           {{"--host", "-dash.example"}, "--host"},
           {{"--metrics-listen", "9100"}, "--metrics-listen"},
           {{"--metrics-listen", "::1:9100"}, "--metrics-listen"},
           {{"--metrics-listen", "127.0.0.1:70000"}, "--metrics-listen"},
           {{"--metrics-listen", "127.0.0.1:"}, "--metrics-listen"},
           {{"--metrics-cache-ms", "60001"}, "--metrics-cache-ms"},
           {{"--bogus"}, "--bogus"},
           {{"--port"}, "--port"},
       }) {
    const auto out = fixture{}.parse(args);
    EXPECT_EQ(out.what, action::error) << name;
    EXPECT_EQ(out.message.rfind(name, 0), 0U) << out.message;
  }
}

TEST(Config, InvalidEnvironmentNamesTheVariable) {
  fixture f;
  f.env["SMART_THREADS"] = "many";
  const auto out = f.parse({});
  EXPECT_EQ(out.what, action::error);
  EXPECT_NE(out.message.find("SMART_THREADS"), std::string::npos);
}

TEST(Config, AnInvalidEnvironmentValueThatAFlagOverridesDoesNotMatter) {
  // Only the effective value is validated.
  fixture f;
  f.env["SMART_MAX_TIMEOUT_MS"] = "0";
  f.env["SMART_HOST"] = "not a host";
  const auto out = f.parse({"--max-timeout-ms", "5000", "--host=127.0.0.1"});
  ASSERT_EQ(out.what, action::run) << out.message;
  EXPECT_EQ(out.cfg.max_timeout.count(), 5000);
  EXPECT_EQ(out.cfg.host, "127.0.0.1");
  // Without the flag, the environment's value is the effective one.
  EXPECT_EQ(f.parse({"--host=127.0.0.1"}).what, action::error);
}

TEST(Config, ErrorsNeverRepeatAPasswordFromAUrl) {
  for (const auto* url : {"http://user:s3cr3t@upstream/api/work", "ftp://user:s3cr3t@x/",
                          "user:s3cr3t@upstream/api", "http://user:s3cr3t@host:99999/"}) {
    const auto out = fixture{}.parse({"--upstream-url", url});
    ASSERT_EQ(out.what, action::error) << url;
    EXPECT_EQ(out.message.find("s3cr3t"), std::string::npos) << out.message;
    EXPECT_EQ(out.message.rfind("--upstream-url", 0), 0U) << out.message;
    fixture f;
    f.env["SMART_UPSTREAM_URL"] = url;
    const auto from_env = f.parse({});
    EXPECT_EQ(from_env.message.find("s3cr3t"), std::string::npos) << from_env.message;
  }
}

TEST(Config, HostNamesAndAddressesAreAccepted) {
  for (const auto* host :
       {"0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "api.internal", "999.1.1.1"}) {
    const auto out = fixture{}.parse({"--host", host});
    ASSERT_EQ(out.what, action::run) << host << ": " << out.message;
    EXPECT_EQ(out.cfg.host, host);
  }
}

TEST(Config, MetricsListenAddress) {
  const auto none = fixture{}.parse({}).cfg;
  EXPECT_TRUE(none.metrics_host.empty());  // /metrics stays on the API port
  EXPECT_EQ(none.metrics_cache.count(), 1000);
  const auto v4 = fixture{}.parse({"--metrics-listen", "127.0.0.1:9100"}).cfg;
  EXPECT_EQ(v4.metrics_host, "127.0.0.1");
  EXPECT_EQ(v4.metrics_port, 9100);
  const auto v6 = fixture{}.parse({"--metrics-listen", "[::1]:0"}).cfg;
  EXPECT_EQ(v6.metrics_host, "::1");
  EXPECT_EQ(v6.metrics_port, 0);
  const auto named = fixture{}.parse({"--metrics-listen=localhost:9100"}).cfg;
  EXPECT_EQ(named.metrics_host, "localhost");
  fixture f;
  f.env["SMART_METRICS_LISTEN"] = "127.0.0.1:9100";
  EXPECT_TRUE(f.parse({"--metrics-listen="}).cfg.metrics_host.empty());  // a flag turns it off
}

TEST(Config, HelpAndVersion) {
  const auto help = fixture{}.parse({"--help"});
  EXPECT_EQ(help.what, action::help);
  for (const char* needle : {"--upstream-url", "SMART_UPSTREAM_URL", "--max-inflight"}) {
    EXPECT_NE(help.message.find(needle), std::string::npos) << needle;
  }
  const auto version = fixture{}.parse({"--version"});
  EXPECT_EQ(version.what, action::version);
  EXPECT_EQ(version.message.rfind("smart-api ", 0), 0U);
}

}  // namespace
}  // namespace smart
