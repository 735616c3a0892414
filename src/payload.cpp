#include "smart/payload.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace smart {

namespace {

// SAX consumer that accepts exactly the shape of spec §1 and stops at the
// first event that rules it out.
class payload_checker {
 public:
  using json = nlohmann::json;

  [[nodiscard]] bool accepted() const { return time_seen_; }

  bool null() { return scalar(false); }
  bool boolean(bool /*value*/) { return scalar(false); }
  bool number_integer(json::number_integer_t value) { return scalar(value >= 0); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return scalar(true); }
  bool number_float(json::number_float_t /*value*/, const json::string_t& /*text*/) {
    return scalar(false);
  }
  bool string(json::string_t& /*value*/) { return scalar(false); }
  bool binary(json::binary_t& /*value*/) { return scalar(false); }

  bool start_object(std::size_t /*elements*/) {
    if (depth_ == 0 && seen_root_) {
      return false;
    }
    seen_root_ = true;
    if (!container_value()) {
      return false;
    }
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*elements*/) {
    if (depth_ == 0) {
      return false;  // the document must be an object
    }
    if (!container_value()) {
      return false;
    }
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(json::string_t& name) {
    if (depth_ == 1 && name == "time") {
      if (time_seen_ || expecting_time_) {
        return false;  // a repeated "time" member is ambiguous: reject it
      }
      expecting_time_ = true;
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }

 private:
  // A scalar value: at the top level it is not an object; as the value of the
  // top-level "time" member it decides the outcome.
  bool scalar(bool acceptable_time) {
    if (depth_ == 0) {
      return false;
    }
    if (depth_ == 1 && expecting_time_) {
      expecting_time_ = false;
      time_seen_ = acceptable_time;
      return acceptable_time;
    }
    return true;
  }

  // An object or array as a value: never acceptable for "time".
  bool container_value() { return !(depth_ == 1 && expecting_time_); }

  int depth_ = 0;
  bool seen_root_ = false;
  bool expecting_time_ = false;
  bool time_seen_ = false;
};

}  // namespace

bool is_valid_payload(std::string_view body) noexcept {
  payload_checker checker;
  try {
    const bool parsed = nlohmann::json::sax_parse(body, &checker, nlohmann::json::input_format_t::json,
                                                  /*strict=*/true, /*ignore_comments=*/false);
    return parsed && checker.accepted();
  } catch (...) {
    // Allocation failure while reading a key; treat as a failed attempt.
    return false;
  }
}

}  // namespace smart
