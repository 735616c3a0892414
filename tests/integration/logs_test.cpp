// The smart-api program's logs: the access line with its trace id in the
// text format, and JSON lines that all parse, under load, whatever the
// messages hold (spec §6; --log-format).

#include "fake_upstream.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "service_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr std::string_view client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string client_traceparent =
    "traceparent: 00-" + std::string{client_trace} + "-00f067aa0ba902b7-01\r\n";

class Logs : public ::testing::Test {
 protected:
  void SetUp() override {
    binary = program_from_environment("SMART_API_BINARY");
    if (binary.empty()) {
      GTEST_SKIP() << "SMART_API_BINARY is not set (run through ctest)";
    }
    upstream.fallback(reply::ok(1));
  }

  static std::uint16_t port_of(const std::string& line) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex{R"(listening on 127\.0\.0\.1:(\d+))"})) {
      return 0;
    }
    return static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  std::string binary;
  fake_upstream upstream;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

TEST_F(Logs, TheTextAccessLineCarriesTheTraceId) {
  child_process api{binary,
                    {"--host", "127.0.0.1", "--port", "0", "--upstream-url", upstream.url(),
                     "--log-file=", "--hedge-count", "0"}};
  const auto port = port_of(api.wait_for_line("listening on", 10s));
  ASSERT_NE(port, 0) << api.output();
  ASSERT_EQ(
      get(port, "/api/smart?timeout=1000", "X-Request-Id: text-1\r\n" + client_traceparent).status,
      200);
  const auto line = api.wait_for_line("text-1", 5s);
  EXPECT_NE(line.find(R"( info text-1 "GET /api/smart" 200 )"), std::string::npos) << line;
  EXPECT_NE(line.find("attempts=1 winner=1 trace=" + std::string{client_trace}), std::string::npos)
      << line;
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait(10s), 0) << api.output();
}

TEST_F(Logs, EveryJsonLineParsesUnderLoadWhateverTheMessagesHold) {
  // The log file's name holds quotes, a backslash, control characters and a
  // byte that is not UTF-8: it is in the start-up line and in the message of
  // a reopening, so those messages carry them all.
  const auto dir =
      std::filesystem::temp_directory_path() / ("smart-api-json-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto log = dir / "a \"quoted\" \\ name\twith\ncontrols\x01\xff.log";
  child_process api{binary,
                    {"--host", "127.0.0.1", "--port", "0", "--upstream-url", upstream.url(),
                     "--log-file", log.string(), "--log-format", "json", "--threads", "2"}};
  const auto port = port_of(api.wait_for_line("listening on", 10s));
  ASSERT_NE(port, 0) << api.output();

  // Load from 8 clients at once: API calls with and without a trace, and
  // the other routes and errors.
  constexpr int clients = 8;
  constexpr int per_client = 60;
  const std::vector<std::pair<std::string, int>> calls = {
      {"/api/smart?timeout=1000", 200},
      {"/healthz", 200},
      {"/nowhere", 404},
      {"/api/first?timeout=x", 400},
  };
  std::vector<std::future<int>> load;
  for (int c = 0; c < clients; ++c) {
    load.push_back(std::async(std::launch::async, [&, c] {
      int ok = 0;
      for (int i = 0; i < per_client; ++i) {
        const auto& [target, status] = calls[static_cast<std::size_t>(i) % calls.size()];
        const auto headers = (i % 2 == 0 ? client_traceparent : std::string{}) +
                             "X-Request-Id: load-" + std::to_string(c) + "-" + std::to_string(i) +
                             "\r\n";
        ok += get(port, target, headers).status == status ? 1 : 0;
      }
      return ok;
    }));
  }
  int answered = 0;
  for (auto& f : load) {
    answered += f.get();
  }
  EXPECT_EQ(answered, clients * per_client);
  api.signal(SIGHUP);
  EXPECT_NE(api.wait_for_line("log file reopened", 5s), "") << api.output();
  api.signal(SIGTERM);
  ASSERT_EQ(api.wait(10s), 0) << api.output();

  std::ifstream in{log, std::ios::binary};
  const std::string file{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  // The console and the file get the same lines.
  for (const auto& [where, text] : {std::pair{"file", file}, std::pair{"console", api.output()}}) {
    int access = 0;
    bool saw_name = false;
    for (const auto& line : lines_of(text)) {
      json j;
      ASSERT_NO_THROW(j = json::parse(line)) << where << ": " << line;
      ASSERT_TRUE(j.is_object()) << line;
      EXPECT_TRUE(j.at("time").is_string()) << line;
      EXPECT_TRUE(j.at("level").is_string()) << line;
      if (j.contains("event")) {
        ++access;
        EXPECT_EQ(j.at("event"), "access");
        for (const char* field : {"request_id", "trace_id", "method", "route"}) {
          EXPECT_TRUE(j.at(field).is_string()) << field << " in " << line;
        }
        for (const char* field : {"status", "duration_ms", "attempts", "winner"}) {
          EXPECT_TRUE(j.at(field).is_number()) << field << " in " << line;
        }
        EXPECT_TRUE(
            std::regex_match(j.at("trace_id").get<std::string>(), std::regex{"[0-9a-f]{32}"}))
            << line;
      } else {
        const auto message = j.at("message").get<std::string>();
        // The name as written, with U+FFFD for the byte that is not UTF-8.
        saw_name = saw_name || message.find(
                                   "a \"quoted\" \\ name\twith\ncontrols\x01\xef\xbf\xbd"
                                   ".log") != std::string::npos;
      }
    }
    EXPECT_EQ(access, clients * per_client) << where;
    EXPECT_TRUE(saw_name) << where;
  }

  // One line in particular: what the access line says about a traced call.
  bool found = false;
  for (const auto& line : lines_of(file)) {
    const auto j = json::parse(line);
    if (j.value("request_id", "") == "load-3-4") {
      found = true;
      EXPECT_EQ(j.at("trace_id"), client_trace);
      EXPECT_EQ(j.at("method"), "GET");
      EXPECT_EQ(j.at("route"), "/api/smart");
      EXPECT_EQ(j.at("status"), 200);
      EXPECT_EQ(j.at("attempts"), 1);
      EXPECT_EQ(j.at("winner"), 1);
      EXPECT_GE(j.at("duration_ms").get<double>(), 0);
    }
  }
  EXPECT_TRUE(found);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace smart::testing
