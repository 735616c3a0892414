#pragma once
// Responses of the HTTP edge and their serialisation. Every response carries
// Content-Length, the request id and a Date; bodies are JSON except for the
// documentation page and the metrics.

#include <memory>
#include <string>
#include <string_view>

namespace smart::edge {

inline constexpr std::string_view json_type = "application/json";

struct response {
  unsigned status = 200;
  std::string_view content_type = json_type;
  std::string body;              // the body, unless static_body or shared_body is set
  std::string_view static_body;  // a body that outlives the response (no copy)
  std::shared_ptr<const std::string> shared_body;  // a body shared with other responses
  std::string_view allow;                          // 405: the Allow header
  unsigned retry_after = 0;                        // 503: Retry-After seconds when non-zero
  // Embedded documents: their ETag (quoted), caching rule and, for the page,
  // its Content-Security-Policy. A response with an ETag is also sent with
  // X-Content-Type-Options: nosniff.
  std::string_view etag;
  std::string_view cache_control;  // replaces the default (no-store for JSON and errors)
  std::string_view content_security_policy;

  [[nodiscard]] std::string_view payload() const {
    if (shared_body) {
      return *shared_body;
    }
    return static_body.empty() ? std::string_view{body} : static_body;
  }
};

// {"error": code, "message": message}
response error_response(unsigned status, std::string_view code, std::string_view message);

// The reason phrase of a status code.
std::string_view reason_phrase(unsigned status);

struct head_options {
  std::string_view request_id;
  bool keep_alive = true;
  bool http10 = false;  // an HTTP/1.0 client needs an explicit keep-alive
};

// Replaces `out` with the status line and headers (ending with the empty
// line). The body is written separately, and not at all for HEAD. A 304 has
// neither Content-Type nor Content-Length (it has no body, and its 200
// would have another length).
void serialize_head(const response& r, const head_options& options, std::string& out);

// Appends `text` to `out` as the contents of a JSON string (no quotes).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace smart::edge
