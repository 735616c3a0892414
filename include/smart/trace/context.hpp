#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent
// and tracestate header values, read from a client and written to the
// upstream. Pure functions, no I/O, no allocation: a request continues its
// client's trace when the client sent a valid one, or starts a new one, and
// every upstream attempt is a span of its own under it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace smart::trace {

using trace_id = std::array<std::uint8_t, 16>;
using span_id = std::array<std::uint8_t, 8>;

// trace-flags: version 00 defines only the sampled bit; the others are
// reserved, and a sender must set them to zero.
inline constexpr std::uint8_t sampled = 0x01;

// The fields of a traceparent. `parent` is the sender's span: the client's
// when read from a request, the attempt's own when written to the upstream.
struct context {
  trace_id trace{};
  span_id parent{};
  std::uint8_t flags = 0;  // only the bits this version defines (sampled)

  friend bool operator==(const context&, const context&) = default;
};

// "00-" + 32 + "-" + 16 + "-" + 2 hex digits.
inline constexpr std::size_t traceparent_size = 55;
inline constexpr std::size_t trace_id_hex_size = 32;

// A traceparent value, or nullopt when it is not valid and the trace must
// start anew: version 00 exactly 55 characters; version ff invalid; a higher
// version at least 55 characters, its first 55 read as version 00's and
// followed by the end or a '-'; lower-case hex digits only; an all-zero
// trace-id or parent-id is invalid. Reserved flag bits are dropped.
std::optional<context> parse_traceparent(std::string_view value);

// Limits on tracestate that this service passes on (W3C: at most 32 list
// members; at least 512 characters should be propagated). A longer value is
// dropped, not truncated: which members matter is its vendors' business.
inline constexpr std::size_t max_tracestate_members = 32;
inline constexpr std::size_t max_tracestate_size = 512;

// Whether a tracestate value (the fields of a request combined with ',') is
// passed on as it is: every list member `key=value` as the specification's
// grammar says (empty members allowed), at most max_tracestate_members
// members and max_tracestate_size characters. Whatever passes holds no
// control characters, so it is safe to write into a header.
bool valid_tracestate(std::string_view value);

// The version 00 traceparent of `c`.
std::array<char, traceparent_size> format_traceparent(const context& c);

// The trace id as 32 lower-case hex digits (as in logs).
std::array<char, trace_id_hex_size> format_trace_id(const trace_id& id);

// Random ids, never all zero, from a per-thread generator (no locking, no
// system call after a thread's first id).
trace_id new_trace_id();
span_id new_span_id();

// A new trace: fresh ids, sampled (this service decides at its edge, as a
// root span with OpenTelemetry's default sampler would, so that tracers
// behind it record the trace).
context start_trace();

// The trace of a request that carried `traceparent_count` traceparent fields
// (the first one's value) and `tracestate` (its fields joined).
struct request_trace {
  context ctx;             // to send under: the client's trace and flags, or a new trace
  bool continued = false;  // the client's trace
  bool keep_tracestate = false;
};

// Exactly one traceparent that parses: its trace continues, with the
// tracestate when it passes valid_tracestate(). Otherwise (none, several,
// malformed) a new trace starts and tracestate is dropped: without a valid
// traceparent it means nothing. Never fails.
request_trace continue_or_start(std::string_view traceparent, int traceparent_count,
                                std::string_view tracestate);

// `c` with a fresh span id: what one upstream attempt sends.
inline context child_of(const context& c) {
  return {c.trace, new_span_id(), c.flags};
}

}  // namespace smart::trace
