// W3C Trace Context through the service: a client's trace continues to the
// upstream, each attempt a span of its own; anything invalid starts a new
// trace and never fails the request.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

namespace smart::testing {
namespace {

constexpr std::string_view client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view client_span = "00f067aa0ba902b7";

// A header field's value in a request head sent upstream ("" when absent).
std::string field(const std::string& head, const std::string& name) {
  const auto at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + name.size() + 4;
  return head.substr(start, head.find("\r\n", start) - start);
}

struct traceparent_fields {
  std::string version, trace, span, flags;
};

// The fields of a traceparent the service sent: always version 00, exact.
traceparent_fields split(const std::string& value) {
  static const std::regex form{"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})"};
  std::smatch m;
  EXPECT_TRUE(std::regex_match(value, m, form)) << value;
  if (m.empty()) {
    return {};
  }
  return {"00", m[1], m[2], m[3]};
}

class Trace : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  // /api/smart with every attempt failing at once: three attempts, 502.
  std::vector<std::string> three_attempts(const std::string& headers) {
    upstream.fallback(reply::status_code(500));
    const auto before = upstream.request_heads().size();
    const auto r = get(service.port(), "/api/smart?timeout=2000", headers);
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.header("traceparent"), "");  // the response carries no trace header
    const auto heads = upstream.request_heads();
    EXPECT_EQ(heads.size(), before + 3);
    return {heads.begin() + static_cast<std::ptrdiff_t>(before), heads.end()};
  }
};

TEST_F(Trace, AValidTraceparentContinuesWithASpanPerAttempt) {
  const auto heads = three_attempts(
      "traceparent: 00-" + std::string{client_trace} + "-" + std::string{client_span} +
      "-01\r\ntracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\r\n");
  std::set<std::string> spans;
  for (const auto& head : heads) {
    const auto tp = split(field(head, "traceparent"));
    EXPECT_EQ(tp.trace, client_trace) << head;
    EXPECT_EQ(tp.flags, "01") << head;
    EXPECT_NE(tp.span, client_span) << head;  // the attempt's own span, a child of the client's
    spans.insert(tp.span);
    EXPECT_EQ(field(head, "tracestate"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    EXPECT_EQ(head.find("traceparent", head.find("traceparent") + 1), std::string::npos);
  }
  EXPECT_EQ(spans.size(), 3U);
}

TEST_F(Trace, UnsampledStaysUnsampledAndAHigherVersionIsReadAsVersion00) {
  for (const auto& head : three_attempts("traceparent: 00-" + std::string{client_trace} + "-" +
                                         std::string{client_span} + "-00\r\n")) {
    const auto tp = split(field(head, "traceparent"));
    EXPECT_EQ(tp.trace, client_trace);
    EXPECT_EQ(tp.flags, "00");
    EXPECT_EQ(field(head, "tracestate"), "");
  }
  for (const auto& head : three_attempts("traceparent: 01-" + std::string{client_trace} + "-" +
                                         std::string{client_span} + "-09-a-later-field\r\n")) {
    const auto tp = split(field(head, "traceparent"));
    EXPECT_EQ(tp.trace, client_trace);
    EXPECT_EQ(tp.flags, "01");  // reserved bits are not passed on
  }
}

TEST_F(Trace, WithoutATraceparentEachRequestStartsATraceOfItsOwn) {
  std::set<std::string> traces;
  for (int i = 0; i < 2; ++i) {
    const auto heads = three_attempts("tracestate: rojo=1\r\n");
    std::set<std::string> spans;
    for (const auto& head : heads) {
      const auto tp = split(field(head, "traceparent"));
      EXPECT_EQ(tp.trace, split(field(heads[0], "traceparent")).trace);
      EXPECT_EQ(tp.flags, "01");  // a trace started here is sampled
      spans.insert(tp.span);
      EXPECT_EQ(field(head, "tracestate"), "");  // meaningless without its traceparent
    }
    EXPECT_EQ(spans.size(), 3U);
    traces.insert(split(field(heads[0], "traceparent")).trace);
  }
  EXPECT_EQ(traces.size(), 2U);
}

TEST_F(Trace, AnInvalidTraceparentStartsANewTraceAndTheRequestSucceeds) {
  upstream.fallback(reply::ok(1));
  const std::string ids = std::string{client_trace} + "-" + std::string{client_span};
  for (const auto& headers : std::vector<std::string>{
           "traceparent: 00-" + ids + "-1\r\n",         // short
           "traceparent: 00-" + ids + "-01-extra\r\n",  // version 00 longer
           "traceparent: ff-" + ids + "-01\r\n",        // version ff
           "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-" + std::string{client_span} +
               "-01\r\n",  // upper case
           "traceparent: 00-00000000000000000000000000000000-" + std::string{client_span} +
               "-01\r\n",  // all-zero trace-id
           "traceparent: 00-" + std::string{client_trace} + "-0000000000000000-01\r\n",
           "traceparent: 00-" + ids + "-01\r\ntraceparent: 00-" + ids + "-01\r\n",  // twice
           "traceparent: not a trace at all\r\n",
       }) {
    const auto r = get(service.port(), "/api/smart?timeout=2000", headers + "tracestate: a=b\r\n");
    EXPECT_EQ(r.status, 200) << headers;
    const auto head = upstream.last_request_head();
    const auto tp = split(field(head, "traceparent"));
    EXPECT_NE(tp.trace, client_trace) << headers;
    EXPECT_EQ(tp.flags, "01") << headers;
    EXPECT_EQ(field(head, "tracestate"), "") << headers;
  }
}

TEST_F(Trace, TracestateIsPassedWithinItsLimitsAndDroppedBeyond) {
  upstream.fallback(reply::ok(1));
  const auto traceparent =
      "traceparent: 00-" + std::string{client_trace} + "-" + std::string{client_span} + "-01\r\n";
  const auto call = [&](const std::string& tracestate_fields) {
    EXPECT_EQ(
        get(service.port(), "/api/smart?timeout=2000", traceparent + tracestate_fields).status,
        200);
    const auto head = upstream.last_request_head();
    EXPECT_EQ(split(field(head, "traceparent")).trace, client_trace);  // the trace goes on
    return field(head, "tracestate");
  };
  // Several fields are one list.
  EXPECT_EQ(call("tracestate: a=1\r\ntracestate: b=2\r\n"), "a=1,b=2");
  std::string members;
  for (int i = 0; i < 32; ++i) {
    members += (i == 0 ? "k" : ",k") + std::to_string(i) + "=v";
  }
  EXPECT_EQ(call("tracestate: " + members + "\r\n"), members);
  EXPECT_EQ(call("tracestate: " + members + ",k32=v\r\n"), "");  // 33 members
  EXPECT_EQ(call("tracestate: k=" + std::string(256, 'v') + ",j=" + std::string(254, 'v') + "\r\n"),
            "");  // 515 characters
  EXPECT_EQ(call("tracestate: Bad=1\r\n"), "");
}

}  // namespace
}  // namespace smart::testing
