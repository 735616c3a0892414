// Every failure kind of spec §1 is a failed attempt, counted under its
// outcome, and the service keeps serving. One attempt per request here
// (--hedge-count 0), so that each request shows exactly one attempt.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace smart::testing {
namespace {

struct failure_case {
  const char* name;
  reply what;
  const char* outcome;
  int status = 502;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const failure_case& c, std::ostream* out) {
  *out << c.name;
}

std::string response_with(const std::string& status_line, const std::string& headers,
                          const std::string& body) {
  return "HTTP/1.1 " + status_line + "\r\n" + headers + "\r\n" + body;
}

std::vector<failure_case> cases() {
  const std::string big(70 * 1024, 'x');
  return {
      {"status_201", reply::status_code(201, 0, R"({"time": 1})"), "http_error"},
      {"status_204", reply::raw_bytes(response_with("204 No Content", "", "")), "http_error"},
      {"status_301",
       reply::raw_bytes(response_with("301 Moved", "Location: /x\r\nContent-Length: 0\r\n", "")),
       "http_error"},
      {"status_404", reply::status_code(404), "http_error"},
      {"status_429", reply::status_code(429, 0, "Too many requests"), "http_error"},
      {"status_500", reply::status_code(500), "http_error"},
      {"status_503", reply::status_code(503), "http_error"},
      {"empty_body", reply::ok(0, ""), "invalid_body"},
      {"invalid_json", reply::ok(0, R"({"time": )"), "invalid_body"},
      {"not_an_object", reply::ok(0, "[160]"), "invalid_body"},
      {"time_is_a_string", reply::ok(0, R"({"time": "160"})"), "invalid_body"},
      {"time_missing", reply::ok(0, R"({"duration": 160})"), "invalid_body"},
      {"negative_time", reply::ok(0, R"({"time": -1})"), "invalid_body"},
      {"fractional_time", reply::ok(0, R"({"time": 1.5})"), "invalid_body"},
      {"oversized_body", reply::ok(0, R"({"time": 1, "pad": ")" + big + "\"}"), "invalid_body"},
      {"reset", reply::reset_after(0), "reset"},
      {"closed_without_answer", reply::close_after_ms(0), "reset"},
      {"reset_mid_body",
       [] {
         auto r =
             reply::raw_bytes(response_with("200 OK", "Content-Length: 50\r\n", R"({"time": )"));
         r.what = reply::kind::raw_then_reset;
         return r;
       }(),
       "reset"},
      {"truncated_body",
       reply::raw_bytes(response_with("200 OK", "Content-Length: 50\r\n", R"({"time": 1)")),
       "reset"},
      {"wrong_content_length",
       reply::raw_bytes(response_with("200 OK", "Content-Length: 40\r\n", R"({"time": 1})")),
       "reset"},
      {"not_http", reply::raw_bytes("SSH-2.0-OpenSSH_9.2\r\n\r\n"), "protocol_error"},
      {"oversized_headers",
       reply::raw_bytes(
           response_with("200 OK", "X-Big: " + big + "\r\nContent-Length: 2\r\n", "{}")),
       "protocol_error"},
      {"switching_protocols",
       reply::raw_bytes(response_with("101 Switching Protocols",
                                      "Connection: upgrade\r\nUpgrade: websocket\r\n", "")),
       "protocol_error"},
      {"transfer_encoding_and_content_length",
       reply::raw_bytes(response_with("200 OK", "Transfer-Encoding: gzip\r\nContent-Length: 12\r\n",
                                      R"({"time": 1})")),
       "protocol_error"},
      {"hang", reply::hang_up(), "timeout", 504},
  };
}

class Failures : public ::testing::TestWithParam<failure_case> {};

TEST_P(Failures, AreFailedAttemptsCountedUnderTheirOutcome) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto& c = GetParam();
  upstream.script({c.what});

  const auto r = get(service.port(), "/api/smart?timeout=500");
  EXPECT_EQ(r.status, c.status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", c.outcome}}), 1)
      << c.outcome;
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "success"}}), 0);

  // The service carries on, and a good answer is a success again.
  upstream.fallback(reply::ok(1, R"({"time": 1})"));
  const auto ok = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, R"({"time": 1})");
}

INSTANTIATE_TEST_SUITE_P(EveryKind, Failures, ::testing::ValuesIn(cases()),
                         [](const auto& test) { return std::string{test.param.name}; });

TEST(FailuresConnect, RefusedConnectionIsAConnectError) {
  std::string url;
  {
    fake_upstream gone;  // bind a port, then free it: nothing listens there
    url = gone.url();
  }
  auto cfg = test_config(url);
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 502);  // a JSON error, never a 500
  EXPECT_NE(r.body.find("upstream_failed"), std::string::npos);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "connect_error"}}), 1);
}

TEST(FailuresConnect, UnresolvableNameIsAConnectError) {
  auto cfg = test_config("http://no-such-host.invalid:9/api/work");
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "connect_error"}}), 1);
}

TEST(FailuresConnect, TrickledAnswerPastTheDeadlineIsATimeout) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.hedge_count = 0;
  running_service service{cfg};
  upstream.script(
      {reply::trickle("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"time\": 1}\n", 20)});
  const auto r = get(service.port(), "/api/smart?timeout=300");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "timeout"}}), 1);
}

TEST(FailuresConnect, ChunkedAnswerIsAccepted) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  running_service service{cfg};
  upstream.script({reply::raw_bytes(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
      "5\r\n{\"tim\r\n7\r\ne\": 12}\r\n0\r\n\r\n")});
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 12})");
}

}  // namespace
}  // namespace smart::testing
