// Service endpoints, errors, HEAD, request ids and keep-alive (spec §4).

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <utility>
#include <vector>

namespace smart::testing {
namespace {

class Api : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  http_response call(const std::string& target, const std::string& headers = "",
                     const std::string& method = "GET") {
    return get(service.port(), target, headers, method);
  }
};

TEST_F(Api, HealthAndReadiness) {
  const auto health = call("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  const auto ready = call("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"status":"ready"})");
}

TEST_F(Api, OpenApiDocumentDescribesEveryEndpoint) {
  const auto r = call("/openapi.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(r.body.find("\"openapi\": \"3."), std::string::npos);
  for (const char* path : {"/api/smart", "/api/first", "/api/all", "/api/within-timeout",
                           "/healthz", "/readyz", "/metrics", "/openapi.json"}) {
    EXPECT_NE(r.body.find(std::string{"\""} + path + "\""), std::string::npos) << path;
  }
}

TEST_F(Api, DocsPageIsSwaggerUiServedByTheServiceItself) {
  const auto r = call("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<html"), std::string::npos);
  // No inline script, and nothing from elsewhere.
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_EQ(r.body.find("//"), std::string::npos);
  EXPECT_EQ(r.header("content-security-policy").find("script-src 'self';"),
            r.header("content-security-policy").find("script-src"))
      << r.header("content-security-policy");
  EXPECT_NE(r.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"/swagger-ui/init.js", "text/javascript; charset=utf-8"},
      {"/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
      {"/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"}};
  for (const auto& [path, type] : files) {
    EXPECT_NE(r.body.find("\"" + path.substr(1) + "\""), std::string::npos) << path;
    const auto file = call(path);
    EXPECT_EQ(file.status, 200) << path;
    EXPECT_EQ(file.header("content-type"), type) << path;
    EXPECT_EQ(file.header("x-content-type-options"), "nosniff") << path;
  }
  EXPECT_NE(call("/swagger-ui/init.js").body.find("url: \"openapi.json\""), std::string::npos);
  EXPECT_GT(call("/swagger-ui/swagger-ui-bundle.js").body.size(), 500'000U);
}

TEST_F(Api, DocumentsCarryAnETagAndAre304WhenTheClientHasThem) {
  for (const char* path : {"/", "/openapi.json", "/swagger-ui/init.js",
                           "/swagger-ui/swagger-ui-bundle.js", "/swagger-ui/swagger-ui.css"}) {
    const auto first = call(path);
    const auto etag = first.header("etag");
    EXPECT_TRUE(std::regex_match(etag, std::regex{R"("[0-9a-f]{16}")"})) << path << ": " << etag;
    EXPECT_EQ(first.header("cache-control"), "no-cache") << path;
    EXPECT_EQ(call(path).header("etag"), etag) << path;  // stable

    const auto again = call(path, "If-None-Match: " + etag + "\r\n");
    EXPECT_EQ(again.status, 304) << path;
    EXPECT_EQ(again.body, "") << path;
    EXPECT_EQ(again.header("etag"), etag) << path;
    EXPECT_EQ(again.header("content-length"), "") << path;
    // A list, a weak tag and "*" match too (RFC 9110 §13.1.2).
    EXPECT_EQ(call(path, "If-None-Match: \"x\", W/" + etag + "\r\n").status, 304) << path;
    EXPECT_EQ(call(path, "If-None-Match: *\r\n").status, 304) << path;
    // Another version is sent whole.
    const auto other = call(path, "If-None-Match: \"0000000000000000\"\r\n");
    EXPECT_EQ(other.status, 200) << path;
    EXPECT_EQ(other.body, first.body) << path;
  }
  // Documents differ, and so do their tags.
  EXPECT_NE(call("/").header("etag"), call("/openapi.json").header("etag"));
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/"}, {"code", "304"}}), 3);
}

TEST_F(Api, MetricsAreServedInTheTextFormat) {
  const auto r = call("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* family :
       {"smart_http_requests_total", "smart_http_request_duration_seconds_bucket",
        "smart_http_requests_in_flight", "smart_upstream_attempts_total",
        "smart_upstream_attempt_duration_seconds_bucket", "smart_hedges_total",
        "smart_hedge_wins_total", "smart_upstream_connections_opened_total",
        "smart_upstream_connections_in_use", "smart_build_info"}) {
    EXPECT_NE(r.body.find(family), std::string::npos) << family;
  }
  // Series exist before anything happened.
  EXPECT_NE(r.body.find(R"(smart_hedges_total{reason="failure"} 0)"), std::string::npos);
}

TEST_F(Api, UnknownPathIs404Json) {
  const auto r = call("/api/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(r.body.find(R"("error":"not_found")"), std::string::npos);
  EXPECT_NE(r.body.find(R"("message":")"), std::string::npos);
}

TEST_F(Api, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    const auto r = call("/api/smart", "", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.header("allow"), "GET, HEAD") << method;
    EXPECT_NE(r.body.find(R"("error":"method_not_allowed")"), std::string::npos);
  }
  EXPECT_EQ(upstream.requests(), 0);
}

TEST_F(Api, HeadIsAcceptedWhereverGetIs) {
  upstream.fallback(reply::ok(5, R"({"time": 77})"));
  for (const char* target :
       {"/healthz", "/readyz", "/openapi.json", "/", "/metrics", "/api/smart?timeout=1000"}) {
    const auto get_response = call(target);
    const auto head = call(target, "", "HEAD");
    EXPECT_EQ(head.status, 200) << target;
    EXPECT_TRUE(head.body.empty()) << target;
    if (std::string{target} != "/metrics") {  // metrics change between the two calls
      EXPECT_EQ(head.header("content-length"), get_response.header("content-length")) << target;
    }
  }
}

TEST_F(Api, RequestIdIsEchoedOrGenerated) {
  const auto echoed = call("/healthz", "X-Request-Id: order-42.a:b_c\r\n");
  EXPECT_EQ(echoed.header("x-request-id"), "order-42.a:b_c");

  const auto generated = call("/healthz");
  EXPECT_TRUE(std::regex_match(generated.header("x-request-id"), std::regex{"[0-9a-f]{16}"}));

  // Unsafe or oversized ids are replaced, never echoed.
  const auto unsafe = call("/healthz", "X-Request-Id: a\"b<script>\r\n");
  EXPECT_TRUE(std::regex_match(unsafe.header("x-request-id"), std::regex{"[0-9a-f]{16}"}));
  const auto huge = call("/healthz", "X-Request-Id: " + std::string(200, 'x') + "\r\n");
  EXPECT_EQ(huge.header("x-request-id").size(), 16U);

  // Errors carry it too.
  EXPECT_EQ(call("/nope", "X-Request-Id: e1\r\n").header("x-request-id"), "e1");
}

TEST_F(Api, RequestIdGoesUpstreamWithEveryAttempt) {
  upstream.fallback(reply::ok(1));
  const auto given = call("/api/smart?timeout=1000", "X-Request-Id: trace-7\r\n");
  EXPECT_EQ(given.status, 200);
  const auto head = upstream.last_request_head();
  EXPECT_NE(head.find("\r\nX-Request-Id: trace-7\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-Request-Id", head.find("trace-7")), std::string::npos) << head;

  // A generated id goes upstream too: the one the client gets back.
  const auto generated = call("/api/smart?timeout=1000");
  EXPECT_EQ(generated.status, 200);
  EXPECT_NE(upstream.last_request_head().find(
                "\r\nX-Request-Id: " + generated.header("x-request-id") + "\r\n"),
            std::string::npos);
}

TEST_F(Api, InvalidTimeoutIs400JsonAndTheServiceCarriesOn) {
  for (const char* query :
       {"timeout=", "timeout=abc", "timeout=-1", "timeout=%2B1", "timeout=1.5", "timeout=0",
        "timeout=60001", "timeout=99999999999999999999", "timeout=1&timeout=2"}) {
    const auto r = call(std::string{"/api/smart?"} + query);
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_NE(r.body.find(R"("error":"invalid_timeout")"), std::string::npos) << query;
  }
  EXPECT_EQ(upstream.requests(), 0);
  upstream.fallback(reply::ok(1));
  EXPECT_EQ(call("/api/smart?timeout=1000&unknown=1").status, 200);
}

TEST_F(Api, KeepAliveServesSeveralRequestsOnOneConnection) {
  upstream.fallback(reply::ok(1));
  http_connection c{service.port()};
  for (int i = 0; i < 5; ++i) {
    c.get(i % 2 == 0 ? "/healthz" : "/api/smart?timeout=1000");
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->header("connection").empty());
  }
}

TEST_F(Api, PipelinedRequestsAreAnsweredInOrder) {
  upstream.fallback(reply::ok(20, R"({"time": 20})"));
  http_connection c{service.port()};
  c.send(
      "GET /api/smart?timeout=1000 HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n");
  const auto first = c.read_response();
  const auto second = c.read_response();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->header("x-request-id"), "one");
  EXPECT_EQ(first->body, R"({"time": 20})");
  EXPECT_EQ(second->header("x-request-id"), "two");
  EXPECT_EQ(second->status, 200);
}

TEST_F(Api, Http10ClientsGetCloseUnlessTheyAskForKeepAlive) {
  http_connection c{service.port()};
  c.send("GET /healthz HTTP/1.0\r\n\r\n");
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.closed_by_server(std::chrono::seconds{2}));

  http_connection k{service.port()};
  k.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const auto kept = k.read_response();
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->header("connection"), "keep-alive");
}

}  // namespace
}  // namespace smart::testing
