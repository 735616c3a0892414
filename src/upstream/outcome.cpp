#include "smart/upstream/outcome.hpp"

namespace smart::upstream {

std::string_view to_string(outcome o) {
  switch (o) {
    case outcome::success:
      return "success";
    case outcome::http_error:
      return "http_error";
    case outcome::invalid_body:
      return "invalid_body";
    case outcome::connect_error:
      return "connect_error";
    case outcome::tls_error:
      return "tls_error";
    case outcome::reset:
      return "reset";
    case outcome::protocol_error:
      return "protocol_error";
    case outcome::timeout:
      return "timeout";
    case outcome::cancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace smart::upstream
