#pragma once
// The header fields an attempt adds to the fixed request, as values for the
// wire. Internal to the upstream layer.

#include <string_view>

namespace smart::upstream {

// Views, valid until the exchange ends; each field is sent unless empty.
struct request_fields {
  std::string_view request_id;   // X-Request-Id
  std::string_view traceparent;  // the attempt's own span
  std::string_view tracestate;
};

}  // namespace smart::upstream
