#pragma once
// The payload rule of spec §1 (is_valid_payload()) written on nlohmann/json's
// SAX parser: the reference the hand-written validator must agree with
// (tests/unit/payload_test.cpp), and what it is measured against
// (bench/payload_bench.cpp).

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace smart::testing {

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

inline bool reference_payload_check(std::string_view body) {
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

}  // namespace smart::testing
