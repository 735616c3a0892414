// upstream-sim over TLS and HTTP/2, driven by independent clients (curl and
// nghttp from nghttp2-client) and by smart-api itself: ALPN, h2c by prior
// knowledge, the HTTP/2 faults, and the counters at GET /stats that tests of
// the service rely on.

#include "certificates.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// A program on PATH, or "".
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path{dir} / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return {};
}

// The number of times `needle` occurs in `text`.
int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// A certificate for 127.0.0.1 from a throw-away CA, in files for the sim.
struct tls_files {
  tls_files() : ca{make_test_ca("upstream-sim test CA")} {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sim-h2-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    std::ofstream{cert} << ca.server.certificate_pem;
    std::ofstream{key} << ca.server.private_key_pem;
    folder = dir;
  }
  ~tls_files() {
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
  }
  tls_files(const tls_files&) = delete;
  tls_files& operator=(const tls_files&) = delete;

  static inline int next = 0;
  test_ca ca;
  std::filesystem::path folder;
  std::string cert;
  std::string key;
};

class SimHttp2 : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_binary = program_from_environment("SMART_SIM_BINARY");
    if (sim_binary.empty()) {
      GTEST_SKIP() << "SMART_SIM_BINARY is not set (run through ctest)";
    }
    curl = on_path("curl");
    nghttp = on_path("nghttp");
    if (curl.empty() || nghttp.empty()) {
      GTEST_SKIP() << "needs curl and nghttp (Debian: curl, nghttp2-client)";
    }
  }

  // Starts the simulator on a free port with `flags` (reliable and quick
  // unless they say otherwise) and returns its port.
  std::uint16_t start_sim(std::vector<std::string> flags) {
    std::vector<std::string> args{"--host",    "127.0.0.1", "--port",     "0",
                                  "--latency", "fixed:20",  "--failures", "none"};
    args.insert(args.end(), flags.begin(), flags.end());
    sim = std::make_unique<child_process>(sim_binary, args);
    const auto line = sim->wait_for_line("listening on", 10s);
    std::smatch m;
    if (!std::regex_search(line, m, std::regex{R"(listening on 127\.0\.0\.1:(\d+))"})) {
      ADD_FAILURE() << "the simulator did not start: " << sim->output();
      return 0;
    }
    port = static_cast<std::uint16_t>(std::stoi(m[1]));
    return port;
  }

  std::string url(const std::string& path, bool tls = false) const {
    return (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port) + path;
  }

  struct run_result {
    int status;
    std::string output;
  };
  static run_result run(const std::string& program, const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = 20s) {
    child_process p{program, args};
    const int status = p.wait(timeout);
    return {status, p.output()};
  }

  // GET /stats over plain HTTP/1.1 (a plain simulator only).
  json stats() const {
    const auto r = get(port, "/stats");
    EXPECT_EQ(r.status, 200);
    return json::parse(r.body);
  }

  std::string sim_binary;
  std::string curl;
  std::string nghttp;
  std::unique_ptr<child_process> sim;
  std::uint16_t port = 0;
};

TEST_F(SimHttp2, OverTlsAlpnPicksH2WhenOfferedAndHttp11Otherwise) {
  tls_files tls;
  ASSERT_NE(start_sim({"--tls-cert", tls.cert, "--tls-key", tls.key}), 0);
  const std::vector<std::string> common{"-sS", "--cacert", tls.ca.ca_file, "-w",
                                        " version=%{http_version}"};
  auto args = common;
  args.insert(args.end(), {"--http2", url("/api/work", true)});
  const auto h2 = run(curl, args);
  EXPECT_EQ(h2.status, 0) << h2.output;
  EXPECT_EQ(h2.output, R"({"time": 20} version=2)");

  args = common;
  args.insert(args.end(), {"--http1.1", url("/api/work", true)});
  const auto h1 = run(curl, args);
  EXPECT_EQ(h1.status, 0) << h1.output;
  EXPECT_EQ(h1.output, R"({"time": 20} version=1.1)");

  // nghttp offers h2 only and says what was negotiated.
  const auto ng = run(nghttp, {"-v", url("/api/work", true)});
  EXPECT_EQ(ng.status, 0) << ng.output;
  EXPECT_NE(ng.output.find("The negotiated protocol: h2"), std::string::npos) << ng.output;
  EXPECT_NE(ng.output.find(R"({"time": 20})"), std::string::npos) << ng.output;

  args = common;
  args.insert(args.end(), {"--http1.1", url("/stats", true)});
  const auto s = run(curl, args);
  ASSERT_EQ(s.status, 0) << s.output;
  const auto counters = json::parse(s.output.substr(0, s.output.rfind(" version=")));
  EXPECT_EQ(counters["connections"]["h2"]["opened"], 2);         // curl and nghttp
  EXPECT_EQ(counters["connections"]["http1_tls"]["opened"], 2);  // curl, and this query
  EXPECT_EQ(counters["connections"]["http1"]["opened"], 0);
  EXPECT_EQ(counters["connections"]["h2c"]["opened"], 0);
  EXPECT_EQ(counters["work_requests"], 3);
}

TEST_F(SimHttp2, OverTlsHttp2OffOrOnlyNarrowsWhatAlpnMayPick) {
  tls_files tls;
  const std::vector<std::string> common{"-sS",       "--cacert", tls.ca.ca_file,   "-o",
                                        "/dev/null", "-w",       "%{http_version}"};
  ASSERT_NE(start_sim({"--tls-cert", tls.cert, "--tls-key", tls.key, "--http2", "off"}), 0);
  auto args = common;
  args.insert(args.end(), {"--http2", url("/api/work", true)});
  const auto off = run(curl, args);
  EXPECT_EQ(off.status, 0) << off.output;
  EXPECT_EQ(off.output, "1.1");  // h2 offered, not taken

  ASSERT_NE(start_sim({"--tls-cert", tls.cert, "--tls-key", tls.key, "--http2", "only"}), 0);
  args = common;
  args.insert(args.end(), {"--http1.1", url("/api/work", true)});
  const auto refused = run(curl, args);
  EXPECT_NE(refused.status, 0) << "HTTP/1.1 was served though --http2 only";
  args = common;
  args.insert(args.end(), {"--http2", url("/api/work", true)});
  const auto h2 = run(curl, args);
  EXPECT_EQ(h2.status, 0) << h2.output;
  EXPECT_EQ(h2.output, "2");
}

TEST_F(SimHttp2, PlainConnectionsSpeakH2cByPriorKnowledgeBesideHttp11) {
  ASSERT_NE(start_sim({}), 0);
  const auto h2c = run(
      curl, {"-sS", "-w", " version=%{http_version}", "--http2-prior-knowledge", url("/api/work")});
  EXPECT_EQ(h2c.status, 0) << h2c.output;
  EXPECT_EQ(h2c.output, R"({"time": 20} version=2)");
  const auto h1 = run(curl, {"-sS", "-w", " version=%{http_version}", url("/api/work")});
  EXPECT_EQ(h1.status, 0) << h1.output;
  EXPECT_EQ(h1.output, R"({"time": 20} version=1.1)");
  const auto s = stats();
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 1);
  EXPECT_EQ(s["connections"]["http1"]["opened"], 2);  // curl, and this query
  EXPECT_EQ(s["streams"], 1);

  // off: the preface is no HTTP/1.1 request; only: HTTP/1.1 is refused.
  ASSERT_NE(start_sim({"--http2", "off"}), 0);
  EXPECT_NE(run(curl, {"-sS", "--http2-prior-knowledge", url("/api/work")}).status, 0);
  ASSERT_NE(start_sim({"--http2", "only"}), 0);
  EXPECT_NE(run(curl, {"-sS", url("/api/work")}).status, 0);
  const auto only = run(curl, {"-sS", "--http2-prior-knowledge", url("/stats")});
  ASSERT_EQ(only.status, 0) << only.output;
  EXPECT_EQ(json::parse(only.output)["refused_connections"], 1);
}

TEST_F(SimHttp2, AdvertisesMaxConcurrentStreamsAndNeverExceedsThem) {
  ASSERT_NE(start_sim({"--h2-max-streams", "2", "--latency", "fixed:150"}), 0);
  // nghttp sends six at once, maybe before the server's SETTINGS arrive:
  // those over the limit are then refused, unprocessed (RFC 9113 §5.1.2).
  const auto ng = run(nghttp, {"-v", "-n", "-m", "6", url("/api/work")});
  const auto received = ng.output.find("recv SETTINGS frame");
  ASSERT_NE(received, std::string::npos) << ng.output;
  EXPECT_NE(ng.output.find("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):2]", received),
            std::string::npos)
      << ng.output;
  const auto answered = occurrences(ng.output, ":status: 200");
  const auto refused = occurrences(ng.output, "error_code=REFUSED_STREAM(0x07)");
  EXPECT_GE(answered, 2) << ng.output;
  EXPECT_EQ(answered + refused, 6) << ng.output;
  const auto s = stats();
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 1);
  EXPECT_EQ(s["peak_open_streams"], 2) << "the limit was exceeded, or never reached";
  EXPECT_EQ(s["work_requests"], answered);
  EXPECT_EQ(s["streams_refused"], refused);
}

TEST_F(SimHttp2, GoawayAfterNStreamsLeavesLaterStreamsUnprocessed) {
  ASSERT_NE(start_sim({"--h2-goaway-after", "2", "--latency", "fixed:100"}), 0);
  // Four streams at once: the second is the last processed.
  const auto ng = run(nghttp, {"-v", "-n", "-m", "4", url("/api/work")});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      ng.output, m, std::regex{R"(recv GOAWAY frame[^\n]*\n\s*\(last_stream_id=(\d+))"}))
      << ng.output;
  EXPECT_EQ(occurrences(ng.output, ":status: 200"), 2) << ng.output;
  auto s = stats();
  EXPECT_EQ(s["goaways_sent"], 1);
  EXPECT_EQ(s["work_requests"], 2) << "streams beyond the GOAWAY's last were processed";
  EXPECT_TRUE(eventually([&] { return stats()["connections"]["h2c"]["open"] == 0; }))
      << "the connection outlived its GOAWAY";
}

TEST_F(SimHttp2, TheResetPlanResetsTheStreamAndKeepsTheConnection) {
  ASSERT_NE(start_sim({"--failures", "reset=100"}), 0);
  const auto ng = run(nghttp, {"-v", "-n", "-m", "3", url("/api/work")});
  EXPECT_EQ(occurrences(ng.output, "recv RST_STREAM frame"), 3) << ng.output;
  EXPECT_EQ(occurrences(ng.output, "error_code=INTERNAL_ERROR(0x02)"), 3) << ng.output;
  const auto c = run(curl, {"-sS", "--http2-prior-knowledge", url("/api/work")});
  EXPECT_EQ(c.status, 92) << c.output;  // CURLE_HTTP2_STREAM
  EXPECT_NE(c.output.find("INTERNAL_ERROR"), std::string::npos) << c.output;
  const auto s = stats();
  EXPECT_EQ(s["streams_reset"], 4);
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 2);  // nghttp's three resets on one
}

TEST_F(SimHttp2, AStalledWindowHoldsTheBodyUntilTheClientGivesUp) {
  ASSERT_NE(start_sim({"--h2-stall-window", "4"}), 0);
  const auto start = std::chrono::steady_clock::now();
  const auto c = run(curl, {"-sS", "--http2-prior-knowledge", "-m", "1", "-o", "/dev/null", "-w",
                            "%{http_code} %{size_download}", url("/api/work")});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(c.status, 28) << c.output;                               // CURLE_OPERATION_TIMEDOUT
  EXPECT_NE(c.output.find("200 4"), std::string::npos) << c.output;  // the head, 4 of 12 bytes
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 5s);
  // Only /api/work bodies stall: the counters come whole over HTTP/2 too.
  const auto s = run(curl, {"-sS", "--http2-prior-knowledge", url("/stats")});
  ASSERT_EQ(s.status, 0) << s.output;
  EXPECT_EQ(json::parse(s.output)["streams_stalled"], 1);
}

// smart-api as the client (--upstream-http 2 on an http:// URL: h2c).
class SimHttp2WithService : public SimHttp2 {
 protected:
  void SetUp() override {
    SimHttp2::SetUp();
    if (IsSkipped()) {
      return;
    }
    api_binary = program_from_environment("SMART_API_BINARY");
    if (api_binary.empty()) {
      GTEST_SKIP() << "SMART_API_BINARY is not set (run through ctest)";
    }
  }

  std::uint16_t start_api(std::vector<std::string> flags) {
    std::vector<std::string> args{"--host",
                                  "127.0.0.1",
                                  "--port",
                                  "0",
                                  "--upstream-url",
                                  url("/api/work"),
                                  "--upstream-http",
                                  "2",
                                  "--log-file=",
                                  "--access-log",
                                  "off"};
    args.insert(args.end(), flags.begin(), flags.end());
    api = std::make_unique<child_process>(api_binary, args);
    const auto line = api->wait_for_line("listening on", 10s);
    std::smatch m;
    if (!std::regex_search(line, m, std::regex{R"(listening on 127\.0\.0\.1:(\d+))"})) {
      ADD_FAILURE() << "smart-api did not start: " << api->output();
      return 0;
    }
    return static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  std::string api_binary;
  std::unique_ptr<child_process> api;
};

TEST_F(SimHttp2WithService, CancelledHedgesArriveAsCancelOnAConnectionThatStaysOpen) {
  // Attempt 1 answers at 1000 ms; the hedges, started at 300 ms, are
  // cancelled then.
  ASSERT_NE(start_sim({"--latency", "fixed:1000"}), 0);
  const auto api_port = start_api({"--hedge-delay-ms", "300"});
  ASSERT_NE(api_port, 0);
  const auto r = get(api_port, "/api/smart?timeout=5000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"time": 1000})");
  json s;
  EXPECT_TRUE(eventually([&] {
    s = stats();
    return s["streams_cancelled"] == 2;
  })) << s.dump();
  EXPECT_EQ(s["streams"], 3);
  EXPECT_EQ(s["streams_reset_by_client"], 2);
  EXPECT_EQ(s["peak_open_streams"], 3);  // all three on one connection ...
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 1);
  EXPECT_EQ(s["connections"]["h2c"]["open"], 1);  // ... which stays open
}

TEST_F(SimHttp2WithService, StreamsAGoawayLeftUnprocessedAreRetried) {
  // Each connection processes two streams. The first request leaves one
  // connection open with one stream used; /api/all then sends its three
  // attempts at once on it: the first is answered, the GOAWAY it triggers
  // leaves the other two unprocessed, and they must go to a new connection.
  ASSERT_NE(start_sim({"--h2-goaway-after", "2", "--latency", "fixed:200"}), 0);
  const auto api_port = start_api({"--hedge-count", "0"});
  ASSERT_NE(api_port, 0);
  EXPECT_EQ(get(api_port, "/api/smart?timeout=5000").status, 200);
  ASSERT_EQ(stats()["connections"]["h2c"]["open"], 1);

  const auto r = get(api_port, "/api/all?timeout=5000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).size(), 3U) << r.body;  // no attempt failed
  const auto s = stats();
  EXPECT_EQ(s["work_requests"], 1 + 3) << "a stream was processed twice";
  EXPECT_GE(s["connections"]["h2c"]["opened"], 2) << s.dump();  // one or two for the retries
  EXPECT_GE(s["goaways_sent"], 1);
}

TEST_F(SimHttp2WithService, AStalledFlowControlWindowIsBoundedByTheDeadline) {
  // Every body stops after 4 bytes and never goes on: only the deadline ends
  // the attempts, whose streams are then reset on a connection that stays.
  ASSERT_NE(start_sim({"--h2-stall-window", "4", "--latency", "fixed:10"}), 0);
  const auto api_port = start_api({});
  ASSERT_NE(api_port, 0);
  const auto r = get(api_port, "/api/smart?timeout=800");
  EXPECT_EQ(r.status, 504);
  EXPECT_GE(millis(r.elapsed), 790ms);
  EXPECT_LT(millis(r.elapsed), 1500ms);
  json s;
  EXPECT_TRUE(eventually([&] {
    s = stats();
    return s["streams_cancelled"] == 3;
  })) << s.dump();
  EXPECT_EQ(s["streams_stalled"], 3);
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 1);
  EXPECT_EQ(s["connections"]["h2c"]["open"], 1);
}

TEST_F(SimHttp2WithService, AResetStreamFailsItsAttemptAtOnceAndTheHedgesStart) {
  // Every stream is reset (RST_STREAM INTERNAL_ERROR): each attempt fails at
  // once, so the hedges start at once, and the answer is a 502 long before
  // the hedge delay, let alone the deadline.
  ASSERT_NE(start_sim({"--failures", "reset=100", "--latency", "fixed:10"}), 0);
  const auto api_port = start_api({});
  ASSERT_NE(api_port, 0);
  const auto r = get(api_port, "/api/smart?timeout=5000");
  EXPECT_EQ(r.status, 502);
  EXPECT_LT(millis(r.elapsed), 290ms);
  const auto s = stats();
  EXPECT_EQ(s["streams"], 3);
  EXPECT_EQ(s["connections"]["h2c"]["opened"], 1);  // a reset stream is not a lost connection
  EXPECT_EQ(s["connections"]["h2c"]["open"], 1);
}

}  // namespace
}  // namespace smart::testing
