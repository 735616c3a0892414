// What counts as a successful upstream body (spec §1).

#include "smart/upstream/payload.hpp"

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
  for (const char* body : {"",
                           " ",
                           "null",
                           "[]",
                           R"([{"time": 1}])",
                           "160",
                           R"("time")",
                           "{}",
                           R"({"time": -1})",
                           R"({"time": 1.5})",
                           R"({"time": 1e2})",
                           R"({"time": "160"})",
                           R"({"time": null})",
                           R"({"time": true})",
                           R"({"time": [1]})",
                           R"({"time": {"ms": 1}})",
                           R"({"time": 18446744073709551616})",
                           R"({"nested": {"time": 1}})",
                           R"({"time": 1)",
                           R"({"time": 1}})",
                           R"({"time": 1} x)",
                           R"({"time": 1}{"time": 2})",
                           R"({"time": 1, "time": 2})",
                           R"({'time': 1})",
                           R"({"time": 01})",
                           "<html>busy</html>",
                           "Internal Server Error",
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

// --- agreement with an independent parser ----------------------------------
// The validator is hand-written for speed; nlohmann/json's SAX parser is the
// reference it must agree with, on a corpus of valid and broken bodies and
// on many random mutations of them.

#include "payload_reference.hpp"

#include <random>

namespace smart {
namespace {

using testing::reference_payload_check;

bool reference(std::string_view body) {
  return reference_payload_check(body);
}

const std::vector<std::string> corpus = {
    R"({"time": 160})",
    R"({"time":0,"a":[1,2.5e3,-4,true,false,null,"x\u00e9\"\\\/\b\f\n\r\t"],"b":{"c":{}}})",
    R"( {"x": {"time": "no"}, "time": 18446744073709551615 } )",
    R"({"ti\u006de": 7})",
    R"({"time": -0})",
    R"({"s": "\ud83d\ude00 caf\u00e9", "time": 3})",
    "{\"s\": \"\xf0\x9f\x98\x80 caf\xc3\xa9\", \"time\": 4}",
    R"({"time": 1, "time": 1})",
    R"([{"time": 1}])",
    R"({"time": 1.0})",
    R"({"time": 1E2})",
    R"({"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "time": 2})",
};

TEST(Payload, AgreesWithAReferenceParser) {
  for (const auto& body : corpus) {
    EXPECT_EQ(is_valid_payload(body), reference(body)) << body;
  }
}

TEST(Payload, AgreesWithAReferenceParserOnMutations) {
  std::mt19937_64 rng{20261129};
  const std::string alphabet =
      "{}[]\":,0123456789-+.eE tfnrulas\\/\x01\x7f\x80\xc3\xa9\xed\xa0\xff";
  int disagreements = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string body = corpus[rng() % corpus.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const auto at = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          body.insert(body.begin() + static_cast<std::ptrdiff_t>(at),
                      alphabet[rng() % alphabet.size()]);
          break;
        default:
          body.erase(at, 1);
          break;
      }
    }
    if (is_valid_payload(body) != reference(body)) {
      ADD_FAILURE() << "disagreement on: " << body;
      if (++disagreements > 10) {
        break;
      }
    }
  }
}

}  // namespace
}  // namespace smart
