#pragma once
// The `timeout` query parameter (spec §2): strict, overflow-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace smart::edge {

struct timeout_param {
  enum class status : std::uint8_t { absent, valid, invalid };
  status state = status::absent;
  std::chrono::milliseconds value{};
};

// Reads `timeout` from a query string (the part after '?', without it).
// Valid: exactly one `timeout` whose value, percent-decoded, is a decimal
// integer of milliseconds in [1, max]. Invalid: empty, signed, fractional,
// non-digit, zero, over max, overflowing, malformed percent-encoding, or
// repeated. Other parameters are ignored.
timeout_param parse_timeout(std::string_view query, std::chrono::milliseconds max);

}  // namespace smart::edge
