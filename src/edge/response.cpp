#include "smart/edge/response.hpp"

#include <array>
#include <charconv>
#include <ctime>

namespace smart::edge {

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

void append_json_escaped(std::string& out, std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4U];
      out += hex[u & 0xfU];
    } else {
      out += c;
    }
  }
}

response error_response(unsigned status, std::string_view code, std::string_view message) {
  response r;
  r.status = status;
  r.body.reserve(32 + code.size() + message.size());
  r.body = R"({"error":")";
  append_json_escaped(r.body, code);
  r.body += R"(","message":")";
  append_json_escaped(r.body, message);
  r.body += "\"}";
  return r;
}

namespace {

// The Date header value, formatted at most once per second per thread.
std::string_view http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local std::array<char, 40> text{};
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    length = std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return {text.data(), length};
}

void append_number(std::string& out, std::size_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

}  // namespace

void serialize_head(const response& r, const head_options& options, std::string& out) {
  out.clear();
  out += "HTTP/1.1 ";
  append_number(out, r.status);
  out += ' ';
  out += reason_phrase(r.status);
  out += "\r\nServer: smart-api\r\nDate: ";
  out += http_date();
  if (r.status != 304) {
    out += "\r\nContent-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    append_number(out, r.payload().size());
  }
  if (!options.request_id.empty()) {
    out += "\r\nX-Request-Id: ";
    out += options.request_id;
  }
  if (!r.allow.empty()) {
    out += "\r\nAllow: ";
    out += r.allow;
  }
  if (r.retry_after != 0) {
    out += "\r\nRetry-After: ";
    append_number(out, r.retry_after);
  }
  if (!r.etag.empty()) {
    out += "\r\nETag: ";
    out += r.etag;
    out += "\r\nX-Content-Type-Options: nosniff";
  }
  if (!r.content_security_policy.empty()) {
    out += "\r\nContent-Security-Policy: ";
    out += r.content_security_policy;
  }
  if (!r.cache_control.empty()) {
    out += "\r\nCache-Control: ";
    out += r.cache_control;
  } else if (r.status != 200 || r.content_type == json_type) {
    out += "\r\nCache-Control: no-store";
  }
  if (!options.keep_alive) {
    out += "\r\nConnection: close";
  } else if (options.http10) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n\r\n";
}

}  // namespace smart::edge
