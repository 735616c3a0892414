// Protection at the HTTP edge (spec §5): limits, bodies, bad requests,
// client timeouts, the in-flight cap. The service keeps serving after each.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

class Edge : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{[this] {
    auto cfg = test_config(upstream.url());
    cfg.header_timeout = 400ms;
    cfg.keepalive_timeout = 400ms;
    return cfg;
  }()};

  void expect_still_serving() { EXPECT_EQ(get(service.port(), "/healthz").status, 200); }
};

TEST_F(Edge, OversizedHeadersAre431) {
  http_connection c{service.port()};
  c.get("/healthz", "X-Big: " + std::string(70 * 1024, 'a') + "\r\n");
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find(R"("error":"request_too_large")"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
  expect_still_serving();
}

TEST_F(Edge, OversizedRequestLineIs414) {
  const auto r = get(service.port(), "/api/smart?x=" + std::string(10 * 1024, 'a'));
  EXPECT_EQ(r.status, 414);
  EXPECT_NE(r.body.find(R"("error":"request_too_large")"), std::string::npos);
  expect_still_serving();
}

TEST_F(Edge, BodiesAre413) {
  http_connection c{service.port()};
  c.send("GET /api/smart HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find(R"("error":"request_too_large")"), std::string::npos);
  EXPECT_EQ(upstream.requests(), 0);

  http_connection chunked{service.port()};
  chunked.send(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  const auto cr = chunked.read_response();
  ASSERT_TRUE(cr);
  EXPECT_EQ(cr->status, 413);
  expect_still_serving();
}

TEST_F(Edge, MalformedRequestsAre400) {
  for (const char* bytes :
       {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    http_connection c{service.port()};
    c.send(bytes);
    const auto r = c.read_response();
    ASSERT_TRUE(r) << bytes;
    EXPECT_EQ(r->status, 400) << bytes;
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_NE(r->body.find(R"("error":"bad_request")"), std::string::npos);
  }
  expect_still_serving();
}

TEST_F(Edge, IdleKeepAliveConnectionsAreClosed) {
  http_connection c{service.port()};
  c.get("/healthz");
  ASSERT_TRUE(c.read_response());
  EXPECT_TRUE(c.closed_by_server(3s));
}

TEST(EdgeHalfClose, AClientThatClosesItsSideAfterItsRequestIsAnsweredAndLetGo) {
  // The end of stream often arrives with the request itself. The connection
  // must end soon after the answer, not when the keep-alive timeout ends it.
  fake_upstream upstream;
  running_service service{[&] {
    auto cfg = test_config(upstream.url());
    cfg.keepalive_timeout = 60s;
    return cfg;
  }()};
  for (int i = 0; i < 5; ++i) {
    http_connection c{service.port()};
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    c.shutdown_send();
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_by_server(5s));
    EXPECT_LT(millis(std::chrono::steady_clock::now() - start), 2000ms);
  }
}

TEST_F(Edge, SlowClientsAreDisconnected) {
  http_connection c{service.port()};
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finishes the headers
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_server(3s));
  EXPECT_LT(millis(std::chrono::steady_clock::now() - start), 2000ms);
  expect_still_serving();
}

TEST_F(Edge, ManyIdleConnectionsDoNotDelayARealRequest) {
  std::vector<std::unique_ptr<http_connection>> idle;
  for (int i = 0; i < 2000; ++i) {
    idle.push_back(std::make_unique<http_connection>(service.port()));
  }
  upstream.fallback(reply::ok(1));
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 200);
  // Per-connection work on a request's path would cost seconds here; a
  // sanitizer build on a busy machine takes up to a few hundred ms anyway.
  EXPECT_LT(millis(r.elapsed), 600ms);
}

TEST(EdgeLimits, ConnectionsPastTheCapAreAnswered503AndClosed) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.max_connections = 3;
  running_service service{cfg};
  std::vector<std::unique_ptr<http_connection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<http_connection>(service.port()));
    held.back()->get("/healthz");
    ASSERT_TRUE(held.back()->read_response());
  }
  EXPECT_EQ(service.metric("smart_http_connections_open"), 3);

  http_connection extra{service.port()};
  const auto r = extra.read_response();  // answered without asking
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_NE(r->body.find(R"("error":"overloaded")"), std::string::npos);
  EXPECT_TRUE(extra.closed_by_server(std::chrono::seconds{2}));
  EXPECT_EQ(service.metric("smart_http_connections_rejected_total"), 1);

  // The connections in place still work; a freed place is taken again.
  held[0]->get("/healthz");
  EXPECT_EQ(held[0]->read_response()->status, 200);
  held.pop_back();
  ASSERT_TRUE(eventually([&] { return service.metric("smart_http_connections_open") == 2; }));
  EXPECT_EQ(get(service.port(), "/healthz").status, 200);
}

TEST(EdgeLimits, RequestsPastTheInFlightCapAre503AtOnce) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.max_inflight = 4;
  running_service service{cfg};
  upstream.fallback(reply::ok(500, R"({"time": 500})"));

  std::vector<std::future<http_response>> admitted;
  for (int i = 0; i < 4; ++i) {
    admitted.push_back(std::async(std::launch::async,
                                  [&] { return get(service.port(), "/api/smart?timeout=3000"); }));
  }
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 4; }));

  const auto rejected = get(service.port(), "/api/smart?timeout=3000");
  EXPECT_EQ(rejected.status, 503);
  EXPECT_EQ(rejected.header("retry-after"), "1");
  EXPECT_NE(rejected.body.find(R"("error":"overloaded")"), std::string::npos);
  EXPECT_LT(millis(rejected.elapsed), 100ms);  // at once, not after a queue
  // Probes are not API requests: they still answer.
  EXPECT_EQ(get(service.port(), "/healthz").status, 200);

  for (auto& f : admitted) {
    const auto r = f.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(millis(r.elapsed), 1500ms);  // the admitted ones keep their latency
  }
  // Capacity is released.
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 200);
}

}  // namespace
}  // namespace smart::testing
