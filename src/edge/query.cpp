#include "smart/edge/query.hpp"

#include "smart/config.hpp"
#include "smart/hex.hpp"

#include <array>

namespace smart::edge {

namespace {

// Percent-decodes `in` into `out` (a small fixed buffer: anything longer than
// it cannot be a valid timeout anyway). Returns the decoded length, or
// nothing when the encoding is malformed or the value too long. '+' stays '+'
// (it would decode to a space, which is no digit either).
template <std::size_t N>
std::optional<std::size_t> decode(std::string_view in, std::array<char, N>& out) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return std::nullopt;
      }
      const int hi = hex_digit(in[i + 1]);
      const int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (n == out.size()) {
      return std::nullopt;
    }
    out[n++] = c;
  }
  return n;
}

bool is_timeout_name(std::string_view name) {
  std::array<char, 16> buf{};
  const auto n = decode(name, buf);
  return n && std::string_view{buf.data(), *n} == "timeout";
}

}  // namespace

timeout_param parse_timeout(std::string_view query, std::chrono::milliseconds max) {
  timeout_param out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);

    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    if (!is_timeout_name(name)) {
      continue;  // unknown parameters are ignored
    }
    if (out.state != timeout_param::status::absent) {
      return {timeout_param::status::invalid, {}};  // repeated
    }
    const std::string_view raw =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::array<char, 32> buf{};
    const auto n = decode(raw, buf);
    const auto value =
        n ? parse_decimal({buf.data(), *n}, 1, static_cast<std::uint64_t>(max.count()))
          : std::nullopt;
    if (!value) {
      return {timeout_param::status::invalid, {}};
    }
    out = {timeout_param::status::valid, std::chrono::milliseconds{*value}};
  }
  return out;
}

}  // namespace smart::edge
