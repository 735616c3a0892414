#pragma once
// The upstream's address, parsed once from configuration. The upstream never
// comes from a request (no SSRF surface).

#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace smart::upstream {

struct url {
  bool tls = false;
  std::string host;  // IPv6 literals without brackets
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, sent as the request-target

  // The Host header value: host, bracketed when IPv6, with the port unless it
  // is the scheme's default.
  [[nodiscard]] std::string host_header() const;
};

// Accepts http://host[:port][/path][?query] and https://…; rejects anything
// else (user info, fragments, other schemes, control characters) with a reason.
boost::system::result<url, std::string> parse_url(std::string_view text);

// `text` with the user information of a URL, if it has any, masked
// ("http://user:secret@host/" -> "http://***@host/"): what an error message or
// a log line may repeat of a value that was meant to be a URL.
std::string redact_userinfo(std::string_view text);

}  // namespace smart::upstream
