// HTTPS upstreams: verification against a trusted CA, failures when the
// certificate cannot be trusted or does not name the host (spec §1), and
// session resumption for replacement connections.

#include "certificates.hpp"
#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>

namespace smart::testing {
namespace {

TEST(Tls, VerifiedUpstreamAnswersAndConnectionsAreReused) {
  const auto ca = make_test_ca("trusted");
  fake_upstream upstream{&ca.server};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  running_service service{cfg};
  upstream.fallback(reply::ok(1, R"({"time": 42})"));
  for (int i = 0; i < 5; ++i) {
    const auto r = get(service.port(), "/api/smart?timeout=2000");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"time": 42})");
  }
  EXPECT_EQ(upstream.connections(), 1);  // one handshake, then keep-alive
}

TEST(Tls, AReplacementConnectionResumesTheSessionInAnAbbreviatedHandshake) {
  const auto ca = make_test_ca("trusted");
  fake_upstream upstream{&ca.server};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  running_service service{cfg};
  auto answer = reply::ok(1, R"({"time": 42})");
  answer.close_after = true;  // every attempt needs a new connection
  upstream.fallback(answer);
  constexpr int n = 6;
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(get(service.port(), "/api/smart?timeout=2000").status, 200);
  }
  EXPECT_EQ(upstream.connections(), n);
  EXPECT_EQ(service.metric("smart_upstream_tls_handshakes_total", {{"kind", "full"}}), 1);
  EXPECT_EQ(service.metric("smart_upstream_tls_handshakes_total", {{"kind", "resumed"}}), n - 1);
}

TEST(Tls, UntrustedCertificateFails) {
  const auto ca = make_test_ca("upstream");
  const auto other = make_test_ca("someone-else");
  fake_upstream upstream{&ca.server};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = other.ca_file;  // the wrong CA
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "tls_error"}}), 1);
  EXPECT_EQ(upstream.requests(), 0);  // nothing was sent over an untrusted channel
}

TEST(Tls, CertificateForAnotherHostFails) {
  const auto ca = make_test_ca("trusted", "DNS:elsewhere.example");
  fake_upstream upstream{&ca.server};
  auto cfg = test_config(upstream.url());
  cfg.upstream_ca_file = ca.ca_file;
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=2000");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "tls_error"}}), 1);
}

TEST(Tls, AnUpstreamThatDoesNotSpeakTlsIsATlsError) {
  fake_upstream upstream;  // plain HTTP, answering before any handshake
  upstream.greet_and_close("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  std::string url = upstream.url();
  url.replace(0, 4, "https");  // http -> https
  auto cfg = test_config(url);
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(service.metric("smart_upstream_attempts_total", {{"outcome", "tls_error"}}), 1);
  // The service carries on.
  EXPECT_EQ(get(service.port(), "/healthz").status, 200);
}

TEST(Tls, PlainHttpToATlsUpstreamFails) {
  const auto ca = make_test_ca("trusted");
  fake_upstream upstream{&ca.server};
  std::string url = upstream.url();
  url.replace(0, 5, "http");  // https -> http
  auto cfg = test_config(url);
  cfg.hedge_count = 0;
  running_service service{cfg};
  const auto r = get(service.port(), "/api/smart?timeout=1000");
  EXPECT_NE(r.status, 200);
}

}  // namespace
}  // namespace smart::testing
