// W3C Trace Context: the parsing rules of traceparent and tracestate, and
// the ids this service makes.

#include "smart/trace/context.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace smart::trace {
namespace {

constexpr std::string_view example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string text(const std::array<char, traceparent_size>& a) {
  return {a.data(), a.size()};
}

TEST(Traceparent, Version00IsReadFieldByField) {
  const auto c = parse_traceparent(example);
  ASSERT_TRUE(c);
  EXPECT_EQ(std::string(format_trace_id(c->trace).data(), 32), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->parent, (span_id{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}));
  EXPECT_EQ(c->flags, sampled);
  EXPECT_EQ(text(format_traceparent(*c)), example);  // formatting is the inverse
}

TEST(Traceparent, Version00MustBeExactly55Characters) {
  EXPECT_FALSE(parse_traceparent(std::string{example} + "-"));
  EXPECT_FALSE(parse_traceparent(std::string{example} + "-extra"));
  EXPECT_FALSE(parse_traceparent(std::string{example} + "0"));
  EXPECT_FALSE(parse_traceparent(example.substr(0, 54)));
  EXPECT_FALSE(parse_traceparent(""));
}

TEST(Traceparent, VersionFfIsInvalid) {
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(Traceparent, HigherVersionsAreReadAsFarAsVersion00Goes) {
  // Longer values continue after a '-'; what follows is not this version's.
  const auto exact = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const auto longer =
      parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes");
  ASSERT_TRUE(exact);
  ASSERT_TRUE(longer);
  EXPECT_EQ(*exact, *longer);
  EXPECT_EQ(text(format_traceparent(*longer)), example);  // passed on as version 00
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
}

TEST(Traceparent, LowerCaseHexOnly) {
  EXPECT_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(parse_traceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(Traceparent, SeparatorsMustBeDashes) {
  EXPECT_FALSE(parse_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
  EXPECT_FALSE(parse_traceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
}

TEST(Traceparent, AllZeroIdsAreInvalid) {
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_TRUE(parse_traceparent("00-00000000000000000000000000000001-0000000000000001-00"));
}

TEST(Traceparent, FlagsKeepOnlyTheSampledBit) {
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags, 0);
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")->flags,
            sampled);
  // Bits this version does not define are not passed on (a sender sets them
  // to zero), and do not make the header invalid.
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09")->flags,
            sampled);
  EXPECT_EQ(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe")->flags, 0);
}

TEST(Traceparent, AChildKeepsTraceAndFlagsWithASpanOfItsOwn) {
  const auto parent = *parse_traceparent(example);
  const auto a = child_of(parent);
  const auto b = child_of(parent);
  EXPECT_EQ(a.trace, parent.trace);
  EXPECT_EQ(a.flags, parent.flags);
  EXPECT_NE(a.parent, parent.parent);
  EXPECT_NE(a.parent, b.parent);
  const auto written = text(format_traceparent(a));
  EXPECT_EQ(written.substr(0, 36), std::string{example.substr(0, 36)});
  EXPECT_TRUE(parse_traceparent(written));
}

TEST(Traceparent, NewTracesAreValidDistinctAndSampled) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto c = start_trace();
    EXPECT_EQ(c.flags, sampled);
    const auto written = text(format_traceparent(c));
    const auto back = parse_traceparent(written);
    ASSERT_TRUE(back) << written;
    EXPECT_EQ(*back, c);
    seen.insert(written.substr(3, 32));
  }
  EXPECT_EQ(seen.size(), 1000U);
}

TEST(RequestTrace, OneValidTraceparentContinuesWithItsTracestate) {
  const auto t = continue_or_start(example, 1, "rojo=00f067aa0ba902b7");
  EXPECT_TRUE(t.continued);
  EXPECT_EQ(t.ctx, *parse_traceparent(example));
  EXPECT_TRUE(t.keep_tracestate);
  EXPECT_FALSE(continue_or_start(example, 1, "").keep_tracestate);
  const auto bad_state = continue_or_start(example, 1, "Rojo=1");
  EXPECT_TRUE(bad_state.continued);  // a bad tracestate does not break the trace
  EXPECT_FALSE(bad_state.keep_tracestate);
}

TEST(RequestTrace, NoneSeveralOrMalformedStartANewTraceWithoutTracestate) {
  const auto parent = *parse_traceparent(example);
  for (const auto& [value, count] : std::vector<std::pair<std::string_view, int>>{
           {"", 0},
           {example, 2},
           {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", 1},
           {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 1}}) {
    const auto t = continue_or_start(value, count, "rojo=1");
    EXPECT_FALSE(t.continued) << value;
    EXPECT_FALSE(t.keep_tracestate) << value;
    EXPECT_NE(t.ctx.trace, parent.trace) << value;
    EXPECT_EQ(t.ctx.flags, sampled) << value;
  }
}

TEST(Tracestate, WellFormedListsPass) {
  EXPECT_TRUE(valid_tracestate("congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("tenant1@vendor=value with spaces"));
  EXPECT_TRUE(valid_tracestate("a_-*/9=x,,b=y"));  // empty members are allowed
  EXPECT_TRUE(valid_tracestate("rojo=x \t"));      // blanks around a member are not its value
  EXPECT_TRUE(valid_tracestate(""));
}

TEST(Tracestate, MalformedMembersFailTheWholeValue) {
  EXPECT_FALSE(valid_tracestate("Rojo=1"));     // upper-case key
  EXPECT_FALSE(valid_tracestate("1abc=1"));     // a simple key starts with a letter
  EXPECT_FALSE(valid_tracestate("rojo"));       // no value
  EXPECT_FALSE(valid_tracestate("rojo="));      // empty value
  EXPECT_FALSE(valid_tracestate("rojo=a=b"));   // '=' in a value
  EXPECT_FALSE(valid_tracestate("rojo=a\tb"));  // control characters
  EXPECT_FALSE(valid_tracestate("rojo=a\r\nx-injected: 1"));
  EXPECT_FALSE(valid_tracestate("t@=1"));                     // empty system
  EXPECT_FALSE(valid_tracestate("t@systemnameistoolong=1"));  // system over 14 characters
  EXPECT_FALSE(valid_tracestate("r\xc3\xa9=1"));
}

TEST(Tracestate, AtMost32MembersAnd512Characters) {
  std::string members;
  for (int i = 0; i < 32; ++i) {
    members += (i == 0 ? "" : ",") + std::string{"k"} + std::to_string(i) + "=v";
  }
  EXPECT_TRUE(valid_tracestate(members));
  EXPECT_FALSE(valid_tracestate(members + ",k32=v"));
  const std::string at_limit = "k=" + std::string(510, 'v');
  EXPECT_FALSE(valid_tracestate(at_limit));  // a value is at most 256 characters
  std::string long_list;                     // 26 members of 18 characters: 493 in all
  for (int i = 10; i < 36; ++i) {
    long_list += (i == 10 ? "k" : ",k") + std::to_string(i) + "=" + std::string(14, 'v');
  }
  const auto at_size = long_list + std::string(max_tracestate_size - long_list.size(), ' ');
  EXPECT_TRUE(valid_tracestate(at_size));
  const auto over = at_size + " ";
  EXPECT_FALSE(valid_tracestate(over));
}

}  // namespace
}  // namespace smart::trace
