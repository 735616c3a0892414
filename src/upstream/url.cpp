#include "smart/upstream/url.hpp"

#include "smart/config.hpp"

#include <algorithm>
#include <cctype>

namespace smart::upstream {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string url::host_header() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

boost::system::result<url, std::string> parse_url(std::string_view text) {
  if (std::any_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f;
      })) {
    return std::string{"must not contain spaces or control characters"};
  }
  url out;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::string{"must start with http:// or https://"};
  }
  const auto scheme = text.substr(0, scheme_end);
  if (iequals(scheme, "https")) {
    out.tls = true;
    out.port = 443;
  } else if (!iequals(scheme, "http")) {
    return std::string{"scheme must be http or https"};
  }
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) {
    return std::string{"must not contain a fragment"};
  }
  const auto authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return std::string{"must not contain user information"};
  }

  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::string{"unterminated IPv6 address"};
    }
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        return std::string{"unexpected characters after the IPv6 address"};
      }
      port = after.substr(1);
      if (port.empty()) {
        return std::string{"empty port"};
      }
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
      return std::string{"invalid IPv6 address"};
    }
  } else {
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), valid_host_char)) {
      return std::string{"invalid host name"};
    }
  }
  if (authority.find(':') != std::string_view::npos && !authority.starts_with('[') &&
      port.empty()) {
    return std::string{"empty port"};
  }
  if (!port.empty()) {
    const auto value = parse_decimal(port, 1, 65535);
    if (!value) {
      return std::string{"port must be from 1 to 65535"};
    }
    out.port = static_cast<std::uint16_t>(*value);
  }
  out.host = std::string{host};
  if (target.empty()) {
    out.target = "/";
  } else if (target.starts_with('?')) {
    out.target = "/" + std::string{target};
  } else {
    out.target = std::string{target};
  }
  return out;
}

std::string redact_userinfo(std::string_view text) {
  const auto scheme_end = text.find("://");
  const auto from = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const auto authority = text.substr(from, text.find_first_of("/?#", from) - from);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return std::string{text};
  }
  return std::string{text.substr(0, from)} + "***" + std::string{text.substr(from + at)};
}

}  // namespace smart::upstream
