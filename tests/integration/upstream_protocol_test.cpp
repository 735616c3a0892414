// What the upstream sends besides a plain answer (spec §1): interim 1xx
// responses are skipped, and a pooled connection is reused only when its last
// exchange ended exactly at a message boundary with nothing unread, so that
// no request is ever handed another request's answer.

#include "certificates.hpp"
#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* early_hints =
    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
constexpr const char* continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

reply with_interim(std::string interim, std::chrono::milliseconds lead, std::string body) {
  auto r = reply::ok(0, std::move(body));
  r.interim = std::move(interim);
  r.interim_lead = lead;
  return r;
}

TEST(UpstreamProtocol, InterimResponsesAreSkippedAndTheFinalOneIsTheAnswer) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.script({
      with_interim(early_hints, 0ms, R"({"time": 1})"),    // in the same segment
      with_interim(continue_100, 50ms, R"({"time": 2})"),  // apart
      with_interim(std::string{continue_100} + early_hints + early_hints, 20ms, R"({"time": 3})"),
  });
  for (const auto* body : {R"({"time": 1})", R"({"time": 2})", R"({"time": 3})"}) {
    const auto r = get(service.port(), "/api/smart?timeout=2000");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, body);
  }
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "success"}}), 3);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "http_error"}}), 0);
  EXPECT_EQ(upstream.connections(), 1);  // each exchange ended at its final response
}

TEST(UpstreamProtocol, EveryRequestGetsItsOwnAnswerWhenTheUpstreamSendsEarlyHints) {
  // The defect this guards against: a 1xx taken as the final answer left the
  // real one in flight on a pooled connection, where the next request read
  // it as its own.
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  auto r = with_interim(early_hints, 5ms, "");  // the final answer a moment later
  r.echo_id = true;
  upstream.fallback(r);
  int own = 0;
  int foreign = 0;  // a success carrying another request's answer
  for (int i = 0; i < 60; ++i) {
    const auto id = "req-" + std::to_string(i);
    const auto answer =
        get(service.port(), "/api/smart?timeout=2000", "X-Request-Id: " + id + "\r\n");
    if (answer.status == 200) {
      (answer.body == R"({"time": 10, "id": ")" + id + R"("})" ? own : foreign) += 1;
    }
  }
  EXPECT_EQ(foreign, 0);
  EXPECT_EQ(own, 60);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "http_error"}}), 0);
  EXPECT_EQ(service.metric("smart_hedges_total", {{"reason", "failure"}}), 0);
}

TEST(UpstreamProtocol, SwitchingProtocolsFailsTheAttemptAndClosesTheConnection) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.script({with_interim(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", 0ms,
      R"({"time": 1})")});
  upstream.fallback(reply::ok(0, R"({"time": 2})"));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "protocol_error"}}), 1);
  const auto next = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(next.body, R"({"time": 2})");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(UpstreamProtocol, AnEndlessStreamOfInterimResponsesFailsTheAttempt) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  std::string many;
  for (int i = 0; i < 9; ++i) {
    many += early_hints;
  }
  upstream.script({with_interim(many, 0ms, R"({"time": 1})")});
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "protocol_error"}}), 1);
}

// A response whose connection receives more bytes: with the response, or
// later, while the connection sits in the pool.
reply with_tail(std::string tail, std::chrono::milliseconds after, std::string body) {
  auto r = reply::ok(0, std::move(body));
  r.trailing = std::move(tail);
  r.trailing_after = after;
  return r;
}

constexpr const char* stale_answer =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
    R"({"time": 999})";

TEST(UpstreamPool, BytesAfterAnAnswerKeepItsConnectionOutOfThePool) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.script({with_tail(stale_answer, 0ms, R"({"time": 1})")});
  upstream.fallback(reply::ok(0, R"({"time": 2})"));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").body, R"({"time": 1})");
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").body, R"({"time": 2})");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(UpstreamPool, AStaleByteArrivingAfterTheAnswerWasReadClosesThePooledConnection) {
  for (const std::string& tail : {std::string{"X"}, std::string{stale_answer}}) {
    fake_upstream upstream;
    auto cfg = test_config(upstream.url());
    cfg.hedge_count = 0;
    running_service service{cfg};
    upstream.script({with_tail(tail, 30ms, R"({"time": 1})")});
    upstream.fallback(reply::ok(0, R"({"time": 2})"));
    EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").body, R"({"time": 1})");
    ASSERT_TRUE(upstream.wait_until([&] { return upstream.tails_sent() == 1; }));
    // The stale bytes are in the pooled connection's socket now: taking it
    // would read them as the start of the next answer.
    const auto next = get(service.port(), "/api/smart?timeout=2000");
    EXPECT_EQ(next.status, 200) << tail;
    EXPECT_EQ(next.body, R"({"time": 2})") << tail;
    EXPECT_EQ(upstream.connections(), 2) << tail;
    EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "success"}}), 2);
  }
}

TEST(UpstreamPool, AStaleTlsRecordClosesThePooledConnectionToo) {
  const auto ca = make_test_ca("stale");
  fake_upstream upstream{&ca.server};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.script({with_tail(stale_answer, 30ms, R"({"time": 1})")});
  upstream.fallback(reply::ok(0, R"({"time": 2})"));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").body, R"({"time": 1})");
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.tails_sent() == 1; }));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").body, R"({"time": 2})");
  EXPECT_EQ(upstream.connections(), 2);
}

}  // namespace
}  // namespace smart::testing
