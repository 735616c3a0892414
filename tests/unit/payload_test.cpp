// What counts as a successful upstream body (spec §1).

#include "smart/payload.hpp"

#include <gtest/gtest.h>

#include <string>

namespace smart {
namespace {

TEST(Payload, AcceptsAnObjectWithANonNegativeIntegerTime) {
  for (const char* body : {R"({"time": 160})", R"({"time":0})", R"( {"time": 1} )",
                           R"({"other": [1, {"time": "x"}], "time": 5})",
                           R"({"time": 18446744073709551615})", "{\"time\":7}\n"}) {
    EXPECT_TRUE(is_valid_payload(body)) << body;
  }
}

TEST(Payload, RejectsEverythingElse) {
  for (const char* body :
       {"", " ", "null", "[]", R"([{"time": 1}])", "160", R"("time")", "{}",
        R"({"time": -1})", R"({"time": 1.5})", R"({"time": 1e2})", R"({"time": "160"})",
        R"({"time": null})", R"({"time": true})", R"({"time": [1]})", R"({"time": {"ms": 1}})",
        R"({"time": 18446744073709551616})", R"({"nested": {"time": 1}})", R"({"time": 1)",
        R"({"time": 1}})", R"({"time": 1} x)", R"({"time": 1}{"time": 2})",
        R"({"time": 1, "time": 2})", R"({'time': 1})", R"({"time": 01})",
        "<html>busy</html>", "Internal Server Error",
        "{\"time\": 1, \"s\": \"\xff\"}"}) {
    EXPECT_FALSE(is_valid_payload(body)) << body;
  }
}

TEST(Payload, LargeValidBodyIsStillValid) {
  std::string body = R"({"time": 3, "pad": ")" + std::string(60000, 'x') + "\"}";
  EXPECT_TRUE(is_valid_payload(body));
}

}  // namespace
}  // namespace smart
