// libFuzzer target: raw bytes into the HTTP request path, up to the response
// head: request-head parsing (Host and Transfer-Encoding checks among it),
// the request-target's forms, routing, the timeout, the request id, the trace
// context, the plan, the documents and the error responses. None of it may
// crash, accept an unsafe id, or pass on a trace header unsafe to write.

#include "smart/config.hpp"
#include "smart/edge/handlers.hpp"
#include "smart/edge/request_head.hpp"
#include "smart/edge/request_id.hpp"
#include "smart/edge/route.hpp"
#include "smart/edge/target.hpp"
#include "smart/io/http_feed.hpp"
#include "smart/trace/context.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const smart::config cfg;
  std::string target;
  std::string request_id;
  smart::edge::extra_fields extra;
  smart::edge::request_head parser{target, request_id, &extra};
  smart::beast::flat_buffer buffer{16 * 1024};
  const auto room = std::min(size, buffer.max_size());
  auto space = buffer.prepare(room);
  if (room > 0) {
    std::memcpy(space.data(), data, room);  // (libFuzzer's empty input comes as a null pointer)
  }
  buffer.commit(room);
  const auto ec = smart::feed(parser, buffer);
  if (ec) {
    return 0;
  }
  if (!smart::edge::is_valid_request_id(request_id)) {
    smart::edge::generate_request_id(request_id);
  }
  for (const char c : request_id) {
    if (c == '\r' || c == '\n' || c == '"' || c == ' ') {
      std::abort();  // would be echoed into a header and a log line
    }
  }
  const auto [path, query] = smart::edge::split_target(target);
  if (path.size() > target.size() || query.size() > target.size()) {
    std::abort();  // views into the target, never past it
  }
  // The trace: whatever came, what goes upstream is well formed.
  const auto trace =
      smart::trace::continue_or_start(extra.traceparent, extra.traceparent_count, extra.tracestate);
  const auto sent = smart::trace::format_traceparent(smart::trace::child_of(trace.ctx));
  const auto back = smart::trace::parse_traceparent({sent.data(), sent.size()});
  if (!back || back->trace != trace.ctx.trace || back->flags != trace.ctx.flags) {
    std::abort();
  }
  if (trace.keep_tracestate) {
    if (extra.tracestate.size() > smart::trace::max_tracestate_size) {
      std::abort();
    }
    for (const char c : extra.tracestate) {
      // Tabs are whitespace around list members (W3C: OWS), valid in a
      // field value; nothing else outside printable ASCII may pass.
      if (c != '\t' &&
          (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)) {
        std::abort();  // would be written into the upstream's request head
      }
    }
  }
  const auto route = smart::edge::find_route(path);
  if (smart::edge::is_document(route)) {
    const auto doc = smart::edge::document_response(route, extra.if_none_match);
    if (doc.status != 200 && doc.status != 304) {
      std::abort();
    }
  }
  auto plan = smart::edge::plan_api(route, query, cfg);
  smart::edge::response resp = plan.reject ? *plan.reject : smart::edge::not_found_response();
  std::string head;
  smart::edge::serialize_head(resp, {request_id, parser.keep_alive(), parser.version() == 10},
                              head);
  if (head.find("\r\n\r\n") != head.size() - 4) {
    std::abort();  // the head must end exactly once
  }
  return 0;
}
