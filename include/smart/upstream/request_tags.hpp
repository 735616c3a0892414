#pragma once
// What an upstream attempt tells the upstream about the request it serves,
// so that the upstream's logs and traces join ours: the request id and the
// request's trace.

#include "smart/trace/context.hpp"

#include <string_view>

namespace smart::upstream {

// Views and a pointer: whoever starts the attempt keeps them valid until it
// ends (the race keeps them in its workspace).
struct request_tags {
  // Sent as X-Request-Id unless empty; a valid id (edge/request_id.hpp).
  std::string_view request_id;
  // The request's trace. Each attempt sends a traceparent under it with a
  // span id of its own (the attempt is a span, a child of the request's);
  // none when null.
  const trace::context* trace = nullptr;
  // Sent as tracestate with the traceparent unless empty; a value that
  // passed trace::valid_tracestate().
  std::string_view tracestate;
};

}  // namespace smart::upstream
