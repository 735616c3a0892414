#include "smart/trace/context.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace smart::trace {

namespace {

// Lower-case hex only: the specification forbids upper case.
int lower_hex(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = lower_hex(text[2 * i]);
    const int lo = lower_hex(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

constexpr char digits[] = "0123456789abcdef";

template <std::size_t N>
char* write_hex(const std::array<std::uint8_t, N>& bytes, char* out) {
  for (const auto b : bytes) {
    *out++ = digits[b >> 4U];
    *out++ = digits[b & 0xfU];
  }
  return out;
}

// splitmix64 over a per-thread random seed: fast, and unique enough for ids
// that only need not to collide.
std::uint64_t next_random() {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32U) ^ rd() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& bytes) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      auto r = next_random();
      for (std::size_t j = i; j < std::min(N, i + 8); ++j, r >>= 8U) {
        bytes[j] = static_cast<std::uint8_t>(r);
      }
    }
  } while (all_zero(bytes));
}

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
         c == '/';
}

// key = lcalpha 0*255(key char), or tenant@system: (lcalpha / DIGIT)
// 0*240(key char) "@" lcalpha 0*13(key char).
bool valid_key(std::string_view key) {
  const auto all_key_chars = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), key_char);
  };
  const auto at = key.find('@');
  if (at == std::string_view::npos) {
    return !key.empty() && key.size() <= 256 && key[0] >= 'a' && key[0] <= 'z' &&
           all_key_chars(key);
  }
  const auto tenant = key.substr(0, at);
  const auto system = key.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 &&
         ((tenant[0] >= 'a' && tenant[0] <= 'z') || (tenant[0] >= '0' && tenant[0] <= '9')) &&
         all_key_chars(tenant) && !system.empty() && system.size() <= 14 && system[0] >= 'a' &&
         system[0] <= 'z' && all_key_chars(system);
}

// value = 0*255(chr) nblk-chr; chr = ' ' / nblk-chr; nblk-chr: printable
// ASCII but ',' and '='.
bool valid_value(std::string_view value) {
  const auto nblk = [](char c) { return c >= 0x21 && c <= 0x7e && c != ',' && c != '='; };
  return !value.empty() && value.size() <= 256 && nblk(value.back()) &&
         std::all_of(value.begin(), value.end(), [&](char c) { return c == ' ' || nblk(c); });
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::optional<context> parse_traceparent(std::string_view value) {
  if (value.size() < traceparent_size) {
    return std::nullopt;
  }
  const int v_hi = lower_hex(value[0]);
  const int v_lo = lower_hex(value[1]);
  if (v_hi < 0 || v_lo < 0 || value[2] != '-') {
    return std::nullopt;
  }
  const int version = (v_hi << 4) | v_lo;
  if (version == 0xff) {
    return std::nullopt;
  }
  if (version == 0 ? value.size() != traceparent_size
                   : value.size() > traceparent_size && value[traceparent_size] != '-') {
    // Version 00 is exactly this long; a later one may add fields after a '-'.
    return std::nullopt;
  }
  context c;
  std::array<std::uint8_t, 1> flags{};
  if (!read_hex(value.substr(3, 32), c.trace) || value[35] != '-' ||
      !read_hex(value.substr(36, 16), c.parent) || value[52] != '-' ||
      !read_hex(value.substr(53, 2), flags) || all_zero(c.trace) || all_zero(c.parent)) {
    return std::nullopt;
  }
  c.flags = static_cast<std::uint8_t>(flags[0] & sampled);
  return c;
}

bool valid_tracestate(std::string_view value) {
  if (value.size() > max_tracestate_size) {
    return false;
  }
  std::size_t members = 0;
  while (true) {
    const auto comma = value.find(',');
    const auto member = trim(value.substr(0, comma));
    if (!member.empty()) {
      const auto eq = member.find('=');
      if (eq == std::string_view::npos || !valid_key(member.substr(0, eq)) ||
          !valid_value(member.substr(eq + 1)) || ++members > max_tracestate_members) {
        return false;
      }
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    value.remove_prefix(comma + 1);
  }
}

request_trace continue_or_start(std::string_view traceparent, int traceparent_count,
                                std::string_view tracestate) {
  if (traceparent_count == 1) {
    if (const auto c = parse_traceparent(traceparent)) {
      return {*c, true, !tracestate.empty() && valid_tracestate(tracestate)};
    }
  }
  return {start_trace(), false, false};
}

std::array<char, traceparent_size> format_traceparent(const context& c) {
  std::array<char, traceparent_size> out{};
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = write_hex(c.trace, p);
  *p++ = '-';
  p = write_hex(c.parent, p);
  *p++ = '-';
  write_hex(std::array<std::uint8_t, 1>{c.flags}, p);
  return out;
}

std::array<char, trace_id_hex_size> format_trace_id(const trace_id& id) {
  std::array<char, trace_id_hex_size> out{};
  write_hex(id, out.data());
  return out;
}

trace_id new_trace_id() {
  trace_id id;
  fill_random(id);
  return id;
}

span_id new_span_id() {
  span_id id;
  fill_random(id);
  return id;
}

context start_trace() {
  return {new_trace_id(), new_span_id(), sampled};
}

}  // namespace smart::trace
