#include "smart/edge/request_id.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>

namespace smart::edge {

bool is_valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= max_request_id_length &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
         });
}

void generate_request_id(std::string& out) {
  // splitmix64 over a per-thread random seed: unique enough for correlation,
  // no locking, no system call per id.
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32U) ^ rd() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  z ^= z >> 31U;

  constexpr char digits[] = "0123456789abcdef";
  out.resize(16);
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = digits[z & 0xfU];
    z >>= 4U;
  }
}

}  // namespace smart::edge
