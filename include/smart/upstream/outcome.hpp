#pragma once
// How one upstream attempt ended (spec §1). Values double as metric labels.

#include <boost/system/error_code.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace smart::upstream {

enum class outcome : std::uint8_t {
  success,         // 200 and a valid payload
  http_error,      // any other status
  invalid_body,    // 200 but not {"time": <non-negative integer>}, or over 64 KiB
  connect_error,   // name not resolved, refused, unreachable
  tls_error,       // handshake or certificate verification failed
  reset,           // connection reset or closed before the response was complete
  protocol_error,  // not a valid HTTP/1.1 response
  timeout,         // still running when the request's deadline passed
  cancelled,       // stopped because the answer was decided or the client left
};

inline constexpr std::array all_outcomes = {
    outcome::success,        outcome::http_error, outcome::invalid_body,
    outcome::connect_error,  outcome::tls_error,  outcome::reset,
    outcome::protocol_error, outcome::timeout,    outcome::cancelled};

std::string_view to_string(outcome o);

struct attempt_result {
  outcome result = outcome::cancelled;
  unsigned status = 0;              // HTTP status, when a response head was read
  std::string body;                 // the body as received (kept for successes)
  boost::system::error_code error;  // the transport error behind a failure, if any

  [[nodiscard]] bool ok() const { return result == outcome::success; }
};

}  // namespace smart::upstream
