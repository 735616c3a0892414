// HTTP/1.1 at the edge where clients get it wrong or use its less common
// parts (RFC 9112): Host, Transfer-Encoding, the absolute-form, a head sent
// slowly, and a client that closes its sending side after its request.

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

class Conformance : public ::testing::Test {
 protected:
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};

  // Sends `bytes` on a new connection; returns its first response.
  std::optional<http_response> exchange(const std::string& bytes) {
    http_connection c{service.port(), 5s};
    c.send(bytes);
    return c.read_response();
  }
};

TEST_F(Conformance, AnyTransferEncodingButAFinalChunkedIs400AndTheBytesAfterItNeverRun) {
  // Beast reads these as requests without a body: the "body" would then run
  // as a request of its own (here a second, pipelined one).
  for (const char* coding :
       {"xchunked", "identity", "gzip", "chunked, identity", "gzip, chunked x"}) {
    http_connection c{service.port(), 5s};
    c.send(std::string{"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "} + coding +
           "\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c.read_response();
    ASSERT_TRUE(r) << coding;
    EXPECT_EQ(r->status, 400) << coding;
    EXPECT_NE(r->body.find(R"("error":"bad_request")"), std::string::npos) << r->body;
    EXPECT_EQ(r->header("connection"), "close") << coding;
    EXPECT_FALSE(c.read_response()) << coding << ": the smuggled request was answered";
  }
  // A final chunked coding is a body: 413, and the connection closes too.
  http_connection c{service.port(), 5s};
  c.send(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "0\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_FALSE(c.read_response());
  EXPECT_EQ(get(service.port(), "/healthz").status, 200);
}

TEST_F(Conformance, Http11NeedsExactlyOneValidHost) {
  for (const char* head :
       {"GET /healthz HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /healthz HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: exa mple\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n"}) {
    const auto r = exchange(head);
    ASSERT_TRUE(r) << head;
    EXPECT_EQ(r->status, 400) << head;
    EXPECT_NE(r->body.find(R"("error":"bad_request")"), std::string::npos) << r->body;
    EXPECT_EQ(r->header("connection"), "close") << head;
  }
  // HTTP/1.0 has no Host requirement; the usual forms pass.
  for (const char* head :
       {"GET /healthz HTTP/1.0\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: localhost:8000\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"}) {
    const auto r = exchange(head);
    ASSERT_TRUE(r) << head;
    EXPECT_EQ(r->status, 200) << head;
  }
}

TEST_F(Conformance, AbsoluteFormTargetsAreRoutedByTheirPath) {
  upstream.fallback(reply::ok(1, R"({"time": 4})"));
  auto r =
      exchange("GET http://smart.example:8000/api/smart?timeout=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"time": 4})");
  r = exchange("GET HTTP://SMART.EXAMPLE/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The query is read from the absolute-form too.
  r = exchange("GET http://x/api/smart?timeout=1.5 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("invalid_timeout"), std::string::npos);
  r = exchange("GET http://x/nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// Sends `head` one byte every `interval` and returns how long after the
// connection opened the service closed it (or nothing if it answered).
std::optional<ms> trickle_until_closed(std::uint16_t port, const std::string& head, ms wait_first,
                                       ms interval) {
  http_connection c{port, 10s};
  const auto opened = std::chrono::steady_clock::now();
  if (c.closed_by_server(wait_first)) {
    return millis(std::chrono::steady_clock::now() - opened);
  }
  for (const char byte : head) {
    try {
      c.send(std::string(1, byte));
    } catch (const std::exception&) {
      return millis(std::chrono::steady_clock::now() - opened);  // reset by the service
    }
    if (c.closed_by_server(interval)) {
      return millis(std::chrono::steady_clock::now() - opened);
    }
  }
  return std::nullopt;
}

TEST(ConformanceTimeouts, TheHeaderTimeoutBoundsTheWholeHeadFromTheConnectionsStart) {
  // A client that waits most of the timeout before its first byte, then
  // trickles the rest, gets no second timeout from that byte on.
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.header_timeout = 1000ms;
  cfg.keepalive_timeout = 10s;
  running_service service{cfg};
  const std::string head =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(100, 'a') + "\r\n\r\n";
  const auto closed = trickle_until_closed(service.port(), head, 800ms, 50ms);
  ASSERT_TRUE(closed) << "a head trickled over 6 s was answered";
  EXPECT_GE(*closed, 1000ms);
  EXPECT_LT(*closed, 1500ms);  // the timeout plus the sweep's period, not 800 ms + the timeout
}

TEST(ConformanceTimeouts, OnAKeepAliveConnectionTheHeadTimeoutStartsAtItsFirstByte) {
  fake_upstream upstream;
  auto cfg = test_config(upstream.url());
  cfg.header_timeout = 1000ms;
  cfg.keepalive_timeout = 10s;
  running_service service{cfg};
  http_connection c{service.port(), 10s};
  c.get("/healthz");
  ASSERT_TRUE(c.read_response());
  // Idle for longer than the header timeout is what keep-alive is for...
  EXPECT_FALSE(c.closed_by_server(1500ms));
  // ...but from the next request's first byte, its head has the timeout.
  const auto first_byte = std::chrono::steady_clock::now();
  bool closed = false;
  for (const char byte : std::string{"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"}) {
    c.send(std::string(1, byte));
    if (c.closed_by_server(50ms)) {
      closed = true;
      break;
    }
  }
  ASSERT_TRUE(closed);
  const auto after = millis(std::chrono::steady_clock::now() - first_byte);
  EXPECT_GE(after, 1000ms);
  EXPECT_LT(after, 1500ms);
}

TEST(ConformanceHalfClose, AClientThatOnlyClosedItsSendingSideGetsItsAnswer) {
  // TCP cannot tell a half-close from a departure. An HTTP/1.1 client is
  // sent an interim 100 (Continue): a half-closed one reads past it to its
  // answer, and the race goes on.
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::ok(400, R"({"time": 400})"));
  http_connection c{service.port(), 5s};
  c.get("/api/smart?timeout=2000");
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  c.shutdown_send();  // while the race runs
  const auto interim = c.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"time": 400})");
  EXPECT_EQ(r->header("connection"), "close");  // nothing more can come from this client
  EXPECT_TRUE(c.closed_by_server(2s));
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "cancelled"}}), 2);
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "200"}}),
            1);
}

TEST(ConformanceHalfClose, AnEndOfStreamThatCameWithTheRequestIsSeenToo) {
  // The end of stream may arrive with the request and be read with it; the
  // race's watch still finds it, and the client still gets its answer.
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::ok(200, R"({"time": 200})"));
  for (int i = 0; i < 5; ++i) {
    http_connection c{service.port(), 5s};
    c.send_and_shutdown("GET /api/smart?timeout=2000 HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 100);  // the watch saw the end of stream
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"time": 200})");
  }
}

TEST(ConformanceHalfClose, PipelinedRequestsReadBeforeTheEndOfStreamAreAllAnswered) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::ok(50, R"({"time": 50})"));
  http_connection c{service.port(), 5s};
  c.send(
      "GET /api/smart?timeout=2000 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/smart?timeout=2000 HTTP/1.1\r\nHost: x\r\n\r\n");
  c.shutdown_send();
  std::vector<int> statuses;
  while (auto r = c.read_response()) {
    if (r->status != 100) {
      statuses.push_back(r->status);
    }
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200}));
}

TEST(ConformanceHalfClose, AClientThatClosedTheWholeConnectionStillCancelsTheRace) {
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::hang_up());
  {
    http_connection c{service.port()};
    c.get("/api/smart?timeout=10000");
    ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  }  // close(): an end of stream first, then a reset answers the interim response
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() == 1; }, 1s));
  EXPECT_FALSE(upstream.wait_until([&] { return upstream.requests() > 1; }, 400ms));
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "499"}}),
            1);
}

TEST(ConformanceHalfClose, AClientThatClosedRightAfterItsRequestCancelsTheRaceToo) {
  // Its end of stream arrives with the request, before the watch starts.
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::hang_up());
  {
    http_connection c{service.port()};
    c.send_and_shutdown("GET /api/smart?timeout=10000 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() >= 1; }, 1s));
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.open_connections() == 0; }, 1s));
  EXPECT_TRUE(eventually([&] {
    return service.metric("smart_http_requests_total",
                          {{"route", "/api/smart"}, {"code", "499"}}) == 1;
  }));
}

TEST(ConformanceHalfClose, AnHttp10ClientsEndOfStreamIsItsDeparture) {
  // HTTP/1.0 clients may not be sent a 1xx: nothing can tell, so an end of
  // stream during the race ends it as a departure.
  fake_upstream upstream;
  running_service service{test_config(upstream.url())};
  upstream.fallback(reply::hang_up());
  http_connection c{service.port(), 5s};
  c.send("GET /api/smart?timeout=10000 HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(upstream.wait_until([&] { return upstream.requests() == 1; }));
  c.shutdown_send();
  EXPECT_TRUE(upstream.wait_until([&] { return upstream.closed_by_client() == 1; }, 1s));
  EXPECT_FALSE(c.read_response());
  EXPECT_EQ(service.metric("smart_http_requests_total", {{"route", "/api/smart"}, {"code", "499"}}),
            1);
}

}  // namespace
}  // namespace smart::testing
