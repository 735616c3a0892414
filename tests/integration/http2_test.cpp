// HTTP/2 to the upstream, against independent servers: nghttpd (Debian's
// nghttp2-server) serving the answer itself, and nginx in front of the fake
// upstream, whose scripted delays make hedges and cancellations happen.
// Spec §2.7: a cancelled attempt on HTTP/2 resets its stream (RST_STREAM
// CANCEL), and its connection stays in use.

#include "certificates.hpp"
#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "peers.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

#include <future>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

// `n` requests at once, each on its own client connection.
std::vector<http_response> get_all(std::uint16_t port, const std::string& target, int n) {
  std::vector<std::future<http_response>> pending;
  for (int i = 0; i < n; ++i) {
    pending.push_back(std::async(std::launch::async, [port, target] { return get(port, target); }));
  }
  std::vector<http_response> out;
  for (auto& p : pending) {
    out.push_back(p.get());
  }
  return out;
}

double opened(running_service& s, std::string_view protocol) {
  return s.metric("smart_upstream_connections_opened_total", {{"protocol", protocol}});
}

// Attempts that ended other than in success or cancellation.
double failed_attempts(running_service& s) {
  double n = 0;
  for (const char* o : {"connect_error", "tls_error", "reset", "timeout", "protocol_error",
                        "http_error", "invalid_body"}) {
    n += s.metric("smart_upstream_attempts_total", {{"outcome", o}});
  }
  return n;
}

TEST(Http2, AnHttpsUpstreamOfferingH2GetsItByAlpnAndOneConnectionCarriesEveryRequest) {
  const auto ca = make_test_ca("h2");
  nghttpd_server upstream{{.tls = &ca.server}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;  // --upstream-http auto, the default
  running_service service{cfg};

  // A burst before any connection exists: the attempts wait for the one
  // being opened instead of opening one each.
  for (const auto& r : get_all(service.port(), "/api/smart?timeout=3000", 16)) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"time": 7})");
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 200);
  }
  EXPECT_EQ(opened(service, "h2"), 1);
  EXPECT_EQ(opened(service, "http/1.1"), 0);
  EXPECT_EQ(failed_attempts(service), 0);
}

TEST(Http2, PlainHttpSpeaksH2cOnlyWhenHttp2IsConfigured) {
  nghttpd_server upstream{{.body = R"({"time": 11})"}};  // h2c only: no HTTP/1.1
  {
    auto cfg = test_config(upstream.url());
    cfg.upstream_version = upstream_http::http2;  // prior knowledge
    running_service service{cfg};
    const auto r = get(service.port(), "/api/smart?timeout=3000");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"time": 11})");
    EXPECT_EQ(opened(service, "h2"), 1);
  }
  {
    auto cfg = test_config(upstream.url());  // auto: plain http is HTTP/1.1
    cfg.hedge_count = 0;
    running_service service{cfg};
    EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 502);
    EXPECT_EQ(opened(service, "h2"), 0);
    EXPECT_EQ(opened(service, "http/1.1"), 1);
  }
}

TEST(Http2, Http11OnlyIsHeldToEvenWhenTheServerOffersH2) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::ok(1, R"({"time": 12})"));
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port()}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.upstream_version = upstream_http::http1;
  running_service service{cfg};
  for (int i = 0; i < 3; ++i) {
    const auto r = get(service.port(), "/api/smart?timeout=3000");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"time": 12})");
  }
  EXPECT_EQ(opened(service, "http/1.1"), 1);
  EXPECT_EQ(opened(service, "h2"), 0);
}

TEST(Http2, Http2OnlyRefusesAnUpstreamWithoutH2AndSendsItNothing) {
  const auto ca = make_test_ca("h1");
  fake_upstream upstream{&ca.server};  // TLS with no ALPN: HTTP/1.1 only
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.upstream_version = upstream_http::http2;
  cfg.hedge_count = 0;
  running_service service{cfg};
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "protocol_error"}}), 1);
  EXPECT_EQ(upstream.requests(), 0);
}

TEST(Http2, ACancelledAttemptResetsItsStreamAndTheConnectionStaysInUse) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  // The first attempt gets no answer; the hedges at 300 ms answer at once.
  work.script({reply::hang_up()});
  work.fallback(reply::ok(1, R"({"time": 13})"));
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port()}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  running_service service{cfg};

  const auto r = get(service.port(), "/api/smart?timeout=3000");
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(millis(r.elapsed), 2000ms);
  // The loser's stream was reset, and nginx passed the cancellation on: it
  // closed its own connection to the slow request.
  EXPECT_TRUE(
      eventually([&] { return service.metric("smart_upstream_streams_reset_total") >= 1; }));
  EXPECT_TRUE(eventually([&] { return work.closed_by_client() >= 1; }));
  // The same connection carries the next requests.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 200);
  }
  EXPECT_EQ(opened(service, "h2"), 1);
  EXPECT_TRUE(eventually([&] { return service.metric("smart_upstream_streams_in_use") == 0; }));
}

TEST(Http2, TheDeadlineResetsEveryOutstandingStream) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::hang_up());
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port()}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  running_service service{cfg};
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=500").status, 504);
  // All three streams reset; nginx lets go of all three requests.
  EXPECT_TRUE(
      eventually([&] { return service.metric("smart_upstream_streams_reset_total") == 3; }));
  EXPECT_TRUE(eventually([&] { return work.closed_by_client() == 3; }));
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "timeout"}}), 3);
  EXPECT_EQ(opened(service, "h2"), 1);
  EXPECT_EQ(service.metric("smart_upstream_streams_in_use"), 0);
}

TEST(Http2, AClientThatLeavesHasItsStreamReset) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::hang_up());
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port()}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  running_service service{cfg};
  {
    http_connection c{service.port()};
    c.get("/api/smart?timeout=10000");
    ASSERT_TRUE(eventually([&] { return work.requests() == 1; }));
  }  // the client goes away
  EXPECT_TRUE(
      eventually([&] { return service.metric("smart_upstream_streams_reset_total") == 1; }));
  EXPECT_TRUE(eventually([&] { return work.closed_by_client() == 1; }));
  // The connection carries the next request.
  work.fallback(reply::ok(1, R"({"time": 17})"));
  EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 200);
  EXPECT_EQ(opened(service, "h2"), 1);
}

TEST(Http2, AGoawayDrainsTheConnectionAndNoAttemptFails) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::ok(20, R"({"time": 14})"));
  // After 3 requests on a connection nginx says GOAWAY.
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port(), .requests_per_connection = 3}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.hedge_count = 0;  // every attempt is a request that must not fail
  running_service service{cfg};
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(get(service.port(), "/api/smart?timeout=3000").status, 200);
  }
  // Concurrent streams beyond the last one a GOAWAY lets finish are retried
  // on another connection, within their attempts.
  for (const auto& r : get_all(service.port(), "/api/smart?timeout=3000", 12)) {
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_GE(service.metric("smart_upstream_goaways_received_total"), 3);
  EXPECT_GE(opened(service, "h2"), 4);
  EXPECT_EQ(failed_attempts(service), 0);
}

TEST(Http2, StreamsBeyondTheServersLimitGoToAnotherConnection) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::ok(1500, R"({"time": 15})"));
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port(), .max_concurrent_streams = 2}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.hedge_count = 0;
  running_service service{cfg};
  // The first request learns the server's SETTINGS.
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=5000").status, 200);
  for (const auto& r : get_all(service.port(), "/api/smart?timeout=5000", 6)) {
    EXPECT_EQ(r.status, 200);
    // One that waited for another's stream would take 3 s or more.
    EXPECT_LT(millis(r.elapsed), 2900ms);
  }
  // (At least one more connection: six at once exceed one connection's two
  // streams, whichever arrive together on a slow machine.)
  EXPECT_GE(opened(service, "h2"), 2);
  EXPECT_EQ(failed_attempts(service), 0);
}

TEST(Http2, TheConnectionCapHoldsAndWaitersTakeFreedStreams) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::ok(100, R"({"time": 16})"));
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port(), .max_concurrent_streams = 1}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.upstream_max_connections = 1;
  cfg.hedge_count = 0;
  running_service service{cfg};
  ASSERT_EQ(get(service.port(), "/api/smart?timeout=5000").status, 200);
  for (const auto& r : get_all(service.port(), "/api/smart?timeout=5000", 4)) {
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(opened(service, "h2"), 1);
  EXPECT_EQ(failed_attempts(service), 0);
}

TEST(Http2, ALostConnectionFailsEveryStreamOnItAtOnce) {
  const auto ca = make_test_ca("h2");
  fake_upstream work;
  work.fallback(reply::hang_up());
  nginx_server upstream{{.tls = &ca.server, .proxy_to = work.port()}};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.hedge_count = 0;
  running_service service{cfg};
  auto pending = std::async(std::launch::async,
                            [&] { return get_all(service.port(), "/api/smart?timeout=8000", 3); });
  ASSERT_TRUE(eventually([&] { return work.requests() == 3; }));
  const auto lost = std::chrono::steady_clock::now();
  upstream.kill();
  for (const auto& r : pending.get()) {
    EXPECT_EQ(r.status, 502);
  }
  EXPECT_LT(millis(std::chrono::steady_clock::now() - lost), 4000ms);  // not the 8 s deadline
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "reset"}}), 3);
}

}  // namespace
}  // namespace smart::testing
