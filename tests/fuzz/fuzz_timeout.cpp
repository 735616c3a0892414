// libFuzzer target: the query string parser (`timeout`, spec §2).

#include "smart/config.hpp"
#include "smart/edge/query.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view query{reinterpret_cast<const char*>(data), size};
  constexpr std::chrono::milliseconds max{60000};
  const auto t = smart::edge::parse_timeout(query, max);
  if (t.state == smart::edge::timeout_param::status::valid &&
      (t.value.count() < 1 || t.value > max)) {
    std::abort();  // a valid timeout is always within [1, max]
  }
  const auto d = smart::parse_decimal(query, 0, 1000);
  if (d && *d > 1000) {
    std::abort();
  }
  return 0;
}
