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

#include <nlohmann/json.hpp>

#include <random>

namespace smart {
namespace {

class reference_checker {
 public:
  using json = nlohmann::json;
  bool accepted() const { return time_ok_; }
  bool null() { return scalar(false); }
  bool boolean(bool /*v*/) { return scalar(false); }
  bool number_integer(json::number_integer_t v) { return scalar(v >= 0); }
  bool number_unsigned(json::number_unsigned_t /*v*/) { return scalar(true); }
  bool number_float(json::number_float_t /*v*/, const json::string_t& /*s*/) {
    return scalar(false);
  }
  bool string(json::string_t& /*v*/) { return scalar(false); }
  bool binary(json::binary_t& /*v*/) { return scalar(false); }
  bool start_object(std::size_t /*n*/) { return open(true); }
  bool end_object() { return close(); }
  bool start_array(std::size_t /*n*/) { return open(false); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (depth_ == 1 && k == "time") {
      if (time_seen_) {
        return false;
      }
      time_seen_ = true;
      expecting_ = true;
    }
    return true;
  }
  bool parse_error(std::size_t /*p*/, const std::string& /*t*/,
                   const nlohmann::detail::exception& /*e*/) {
    return false;
  }

 private:
  bool scalar(bool ok) {
    if (depth_ == 0) {
      return false;
    }
    if (depth_ == 1 && expecting_) {
      expecting_ = false;
      time_ok_ = ok;
      return ok;
    }
    return true;
  }
  bool open(bool object) {
    if (depth_ == 0 && !object) {
      return false;
    }
    if (depth_ == 1 && expecting_) {
      return false;
    }
    return ++depth_ <= 65;
  }
  bool close() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  bool time_seen_ = false;
  bool expecting_ = false;
  bool time_ok_ = false;
};

bool reference(std::string_view body) {
  if (body.size() >= 3 && body.substr(0, 3) == "\xef\xbb\xbf") {
    return false;  // nlohmann skips a byte order mark; the service does not
  }
  reference_checker c;
  try {
    return nlohmann::json::sax_parse(body, &c) && c.accepted();
  } catch (...) {
    return false;
  }
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
