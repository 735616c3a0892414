#include "smart/edge/target.hpp"

#include <algorithm>

namespace smart::edge {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// unreserved / sub-delims (RFC 3986 §2.2, §2.3); '%' is checked apart.
bool is_reg_name_char(char c) {
  static constexpr std::string_view others = "-._~!$&'()*+,;=";
  return is_alpha(c) || is_digit(c) || others.find(c) != std::string_view::npos;
}

bool valid_reg_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) {
        return false;
      }
      i += 2;
    } else if (!is_reg_name_char(name[i])) {
      return false;
    }
  }
  return true;
}

// IPv6address or IPvFuture, loosely: the characters they may hold. The
// value is never used to connect anywhere; this only keeps garbage out.
bool valid_ip_literal(std::string_view inside) {
  return !inside.empty() && std::all_of(inside.begin(), inside.end(), [](char c) {
    return is_hex(c) || c == ':' || c == '.' || c == 'v' || c == 'V' || is_reg_name_char(c);
  });
}

bool starts_with_scheme(std::string_view target, std::string_view scheme) {
  if (target.size() < scheme.size()) {
    return false;
  }
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = target[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != scheme[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

target_parts split_target(std::string_view target) {
  if (starts_with_scheme(target, "http://") || starts_with_scheme(target, "https://")) {
    const auto authority = target.find("://") + 3;
    const auto path = target.find_first_of("/?#", authority);
    if (path == std::string_view::npos) {
      return {"/", {}};
    }
    target.remove_prefix(path);
    if (target.front() != '/') {
      // "http://host?query": the path is empty, which means "/".
      const auto q = target.find('?');
      return {"/", q == std::string_view::npos ? std::string_view{} : target.substr(q + 1)};
    }
  }
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, q), target.substr(q + 1)};
}

bool valid_host(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  if (value.starts_with('[')) {
    const auto close = value.find(']');
    if (close == std::string_view::npos || !valid_ip_literal(value.substr(1, close - 1))) {
      return false;
    }
    host = {};
    const auto rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return false;
      }
      port = rest.substr(1);
    }
  } else if (const auto colon = value.rfind(':'); colon != std::string_view::npos) {
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  return valid_reg_name(host) && std::all_of(port.begin(), port.end(), is_digit);
}

}  // namespace smart::edge
