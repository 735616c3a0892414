// Strict, overflow-safe `timeout` parsing (spec §2).

#include "smart/edge/query.hpp"
#include "smart/config.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace smart::edge {
namespace {

using std::chrono::milliseconds;
using status = timeout_param::status;
constexpr milliseconds max{60000};

TEST(Timeout, AbsentWhenNotGiven) {
  EXPECT_EQ(parse_timeout("", max).state, status::absent);
  EXPECT_EQ(parse_timeout("foo=1&bar", max).state, status::absent);
}

TEST(Timeout, AcceptsDecimalMilliseconds) {
  for (const auto& [query, value] : {std::pair{"timeout=1500", 1500},
                                     {"timeout=1", 1},
                                     {"timeout=60000", 60000},
                                     {"a=b&timeout=300&c", 300},
                                     {"timeout=0300", 300},
                                     {"timeout=%31%35", 15}}) {
    const auto t = parse_timeout(query, max);
    EXPECT_EQ(t.state, status::valid) << query;
    EXPECT_EQ(t.value, milliseconds{value}) << query;
  }
}

TEST(Timeout, RejectsEverythingElse) {
  for (const char* query : {"timeout=",
                            "timeout",
                            "timeout=0",
                            "timeout=-1",
                            "timeout=+1",
                            "timeout=1.5",
                            "timeout=1e3",
                            "timeout=abc",
                            "timeout= 1",
                            "timeout=1 ",
                            "timeout=0x10",
                            "timeout=60001",
                            "timeout=99999999999999999999999999",
                            "timeout=18446744073709551616",
                            "timeout=1&timeout=2",
                            "timeout=1&timeout=1",
                            "timeout=%2B1",
                            "timeout=%",
                            "timeout=%3",
                            "timeout=%zz",
                            "timeout=1%00",
                            "timeout=١٢"}) {
    EXPECT_EQ(parse_timeout(query, max).state, status::invalid) << query;
  }
}

TEST(Timeout, EncodedNameCounts) {
  EXPECT_EQ(parse_timeout("time%6Fut=5", max).state, status::valid);
  EXPECT_EQ(parse_timeout("timeout=5&time%6Fut=5", max).state, status::invalid);
}

TEST(Timeout, MaxIsConfigurable) {
  EXPECT_EQ(parse_timeout("timeout=501", milliseconds{500}).state, status::invalid);
  EXPECT_EQ(parse_timeout("timeout=500", milliseconds{500}).state, status::valid);
}

TEST(Decimal, StrictAndOverflowSafe) {
  EXPECT_EQ(parse_decimal("0", 0, 10), 0U);
  EXPECT_EQ(parse_decimal("10", 0, 10), 10U);
  EXPECT_FALSE(parse_decimal("11", 0, 10));
  EXPECT_FALSE(parse_decimal("9", 0, 5));
  EXPECT_FALSE(parse_decimal("", 0, 10));
  EXPECT_FALSE(parse_decimal("-1", 0, 10));
  constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(parse_decimal("18446744073709551615", 0, u64max), u64max);
  EXPECT_FALSE(parse_decimal("18446744073709551616", 0, u64max));
  EXPECT_FALSE(parse_decimal("99999999999999999999999", 0, u64max));
  EXPECT_FALSE(parse_decimal("0", 1, 10));
}

}  // namespace
}  // namespace smart::edge
