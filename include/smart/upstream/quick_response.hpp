#pragma once
// The usual answer of a well-behaved upstream, parsed in one pass without
// Beast: HTTP/1.1, a status that carries a body, a Content-Length, no
// Transfer-Encoding, plain header lines. Anything else is declined, and the
// caller hands the same bytes to Beast's full parser, which knows the rest
// of HTTP/1.1 (chunked bodies, HTTP/1.0, bodies ended by a close, 1xx).

#include <cstddef>
#include <string_view>

namespace smart::upstream {

struct quick_response {
  enum class verdict { parsed, need_more, declined };

  unsigned status = 0;
  bool keep_alive = true;
  std::string_view body;  // points into the parsed bytes
  std::size_t size = 0;   // bytes of head and body: what to consume

  // Parses `data` (the start of the bytes the upstream sent). `header_limit`
  // and `body_limit` bound what it accepts; beyond them it declines, and
  // Beast reports the error.
  verdict parse(std::string_view data, std::size_t header_limit, std::size_t body_limit);
};

}  // namespace smart::upstream
