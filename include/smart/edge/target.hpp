#pragma once
// What the edge reads from a request line and its Host field (RFC 9112
// §3.2): the path and query of the request-target in origin-form or
// absolute-form, and whether a Host field value is well formed. Pure
// functions, no I/O.

#include <string_view>

namespace smart::edge {

struct target_parts {
  std::string_view path;   // "/..." or, for a form the routes do not know, the whole target
  std::string_view query;  // after '?', without it; empty when there is none
};

// Splits a request-target. Origin-form ("/api/smart?timeout=5") is split at
// the first '?'. Absolute-form ("http://host:8000/api/smart?timeout=5", any
// case of the scheme) is routed by its path, an empty path being "/"; its
// authority is not used (the service answers for any name it is reached by).
// Authority-form and asterisk-form come back whole as the path, which no
// route matches.
target_parts split_target(std::string_view target);

// Whether a Host field value is `uri-host [ ":" port ]` (RFC 9110 §7.2,
// RFC 3986 §3.2.2): an IP literal in brackets, or a reg-name (an IPv4
// address is one), with an optional decimal port. An empty value is valid.
bool valid_host(std::string_view value);

}  // namespace smart::edge
