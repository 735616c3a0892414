// Log lines: the access line in both formats, and JSON lines that stay valid
// JSON whatever a message holds.

#include "smart/logging.hpp"
#include "smart/edge/access_log.hpp"
#include "smart/trace/context.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace smart {
namespace {

using json = nlohmann::json;

// 2026-12-05T05:04:28.689Z
const auto sample_time =
    std::chrono::system_clock::time_point{std::chrono::milliseconds{1'796'447'068'689LL}};

json line_of(std::string_view payload, bool access = false, std::string_view level = "info") {
  std::string line;
  append_json_line(line, sample_time, level, payload, access);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  return json::parse(line);  // throws on invalid JSON, which fails the test
}

const trace::trace_id sample_trace =
    trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")->trace;

const edge::access_entry sample_access{
    "b7df923a5b23f4db", &sample_trace, "GET", "/api/smart", 200, 507.9391, 3, 2};

TEST(JsonLog, AMessageLineHasTimeLevelAndMessage) {
  const auto j = line_of("smart-api listening on 0.0.0.0:8000", false, "warning");
  EXPECT_EQ(j.at("time"), "2026-12-05T05:04:28.689Z");
  EXPECT_EQ(j.at("level"), "warning");
  EXPECT_EQ(j.at("message"), "smart-api listening on 0.0.0.0:8000");
  EXPECT_EQ(j.size(), 3U);
}

TEST(JsonLog, QuotesBackslashesAndControlCharactersStayInTheString) {
  std::string every_control;
  for (int c = 0; c < 0x20; ++c) {
    every_control += static_cast<char>(c);
  }
  every_control += '\x7f';
  for (const auto& message :
       std::vector<std::string>{std::string{R"(say "hi" \ or \" {"nested": "json"})"},
                                every_control, std::string{"line one\nline two\r\n\ttabbed"},
                                std::string{"\"}"}, std::string{"ends with a backslash \\"}}) {
    EXPECT_EQ(line_of(message).at("message"), message);
  }
}

TEST(JsonLog, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  EXPECT_EQ(line_of("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80").at("message"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // well-formed: kept as it is
  const std::string replacement = "\xef\xbf\xbd";
  EXPECT_EQ(line_of("a\xff"
                    "b")
                .at("message"),
            "a" + replacement + "b");
  EXPECT_EQ(line_of("\xc3").at("message"), replacement);                    // truncated
  EXPECT_EQ(line_of("\xc0\xaf").at("message"), replacement + replacement);  // overlong
  EXPECT_EQ(line_of("\xed\xa0\x80").at("message"), replacement + replacement + replacement);
  EXPECT_EQ(line_of("\xf4\x90\x80\x80").at("message"),
            replacement + replacement + replacement + replacement);  // beyond U+10FFFF
  EXPECT_EQ(line_of("\x80x").at("message"), replacement + "x");
}

TEST(JsonLog, EveryByteValueMakesValidJson) {
  std::string all;
  for (int round = 0; round < 3; ++round) {
    for (int c = 0; c < 256; ++c) {
      all += static_cast<char>((c * 7 + round * 31) % 256);
    }
  }
  EXPECT_NO_THROW(line_of(all));
}

TEST(AccessLog, JsonFieldsAreTopLevel) {
  std::string fields;
  edge::append_access_fields(fields, sample_access);
  const auto j = line_of(fields, true);
  EXPECT_EQ(j.at("time"), "2026-12-05T05:04:28.689Z");
  EXPECT_EQ(j.at("level"), "info");
  EXPECT_EQ(j.at("event"), "access");
  EXPECT_EQ(j.at("request_id"), "b7df923a5b23f4db");
  EXPECT_EQ(j.at("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j.at("method"), "GET");
  EXPECT_EQ(j.at("route"), "/api/smart");
  EXPECT_EQ(j.at("status"), 200);
  EXPECT_DOUBLE_EQ(j.at("duration_ms").get<double>(), 507.939);
  EXPECT_EQ(j.at("attempts"), 3);
  EXPECT_EQ(j.at("winner"), 2);
}

TEST(AccessLog, TextLineSaysTheSame) {
  std::string text;
  edge::append_access_text(text, sample_access);
  EXPECT_EQ(text, R"(b7df923a5b23f4db "GET /api/smart" 200 507.939ms attempts=3 winner=2 )"
                  "trace=4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
}  // namespace smart
