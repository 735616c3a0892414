#include "smart/upstream/quick_response.hpp"

#include <array>
#include <cstdint>

namespace smart::upstream {

namespace {

// Character classes of RFC 9110, one table look-up per byte: this parser
// runs on every upstream response.
constexpr std::uint8_t token_bit = 1;  // tchar
constexpr std::uint8_t text_bit = 2;   // field-value and reason-phrase bytes

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool control = (c < 0x20 && c != '\t') || c == 0x7f;
    t[static_cast<std::size_t>(c)] = control ? 0 : text_bit;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] |= token_bit;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] |= token_bit;
    t[static_cast<std::size_t>(c - 'a' + 'A')] |= token_bit;
  }
  for (const char c : std::string_view{"!#$%&'*+-.^_`|~"}) {
    t[static_cast<unsigned char>(c)] |= token_bit;
  }
  return t;
}

constexpr auto classes = make_classes();

bool all_of_class(std::string_view v, std::uint8_t bit) {
  for (const char c : v) {
    if ((classes[static_cast<unsigned char>(c)] & bit) == 0) {
      return false;
    }
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((static_cast<unsigned char>(a[i]) | 0x20U) != (static_cast<unsigned char>(b[i]) | 0x20U)) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  return v;
}

// Whether a Connection header value lists "close" (a comma-separated list of
// tokens, any case). Returns false and sets `odd` for anything unexpected.
bool lists_close(std::string_view value, bool& odd) {
  bool close = false;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (!all_of_class(item, token_bit)) {
      odd = true;
      return false;
    }
    close = close || iequals(item, "close");
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
  }
  return close;
}

}  // namespace

quick_response::verdict quick_response::parse(std::string_view data, std::size_t header_limit,
                                              std::size_t body_limit) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return data.size() > header_limit ? verdict::declined : verdict::need_more;
  }
  const std::size_t head_size = end + 4;
  if (head_size > header_limit) {
    return verdict::declined;
  }
  std::string_view head = data.substr(0, end + 2);  // each line ends with CRLF

  // Status line: HTTP/1.1 SP 3DIGIT SP reason CRLF
  const auto line_end = head.find("\r\n");
  const auto line = head.substr(0, line_end);
  if (line.size() < 13 || line.substr(0, 9) != "HTTP/1.1 " || line[12] != ' ') {
    return verdict::declined;
  }
  unsigned code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return verdict::declined;
    }
    code = code * 10 + static_cast<unsigned>(line[i] - '0');
  }
  if (code < 200 || code == 204 || code == 304) {
    return verdict::declined;  // no body by definition: Beast's rules
  }
  if (!all_of_class(line.substr(13), text_bit)) {
    return verdict::declined;
  }
  head.remove_prefix(line_end + 2);

  bool have_length = false;
  std::size_t length = 0;
  bool close = false;
  while (!head.empty()) {
    const auto eol = head.find("\r\n");
    const auto field = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const auto colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      return verdict::declined;
    }
    const auto name = field.substr(0, colon);
    if (!all_of_class(name, token_bit)) {
      return verdict::declined;  // including obs-fold and space before the colon
    }
    const auto value = trim(field.substr(colon + 1));
    if (!all_of_class(value, text_bit)) {
      return verdict::declined;
    }
    if (iequals(name, "content-length")) {
      if (have_length || value.empty() || value.size() > 18) {
        return verdict::declined;
      }
      for (const char c : value) {
        if (c < '0' || c > '9') {
          return verdict::declined;
        }
        length = length * 10 + static_cast<std::size_t>(c - '0');
      }
      have_length = true;
    } else if (iequals(name, "transfer-encoding")) {
      return verdict::declined;
    } else if (iequals(name, "connection")) {
      bool odd = false;
      close = lists_close(value, odd) || close;
      if (odd) {
        return verdict::declined;
      }
    }
  }
  if (!have_length || length > body_limit) {
    return verdict::declined;
  }
  if (data.size() < head_size + length) {
    return verdict::need_more;
  }
  status = code;
  keep_alive = !close;
  body = data.substr(head_size, length);
  size = head_size + length;
  return verdict::parsed;
}

}  // namespace smart::upstream
