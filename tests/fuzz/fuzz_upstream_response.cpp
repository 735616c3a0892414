// libFuzzer target: what the upstream client makes of the bytes an upstream
// sends. The quick parser must agree with Beast's on everything it accepts,
// and the payload rule must not crash on any body.

#include "smart/upstream/payload.hpp"
#include "smart/upstream/quick_response.hpp"

#include <boost/beast/http.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes{reinterpret_cast<const char*>(data), size};
  (void)smart::is_valid_payload(bytes);

  constexpr std::size_t header_limit = 16 * 1024;
  constexpr std::size_t body_limit = 64 * 1024;
  smart::upstream::quick_response quick;
  if (quick.parse(bytes, header_limit, body_limit) !=
      smart::upstream::quick_response::verdict::parsed) {
    return 0;
  }
  http::response_parser<http::string_body> beast;
  beast.eager(true);
  beast.header_limit(header_limit);
  beast.body_limit(body_limit);
  boost::system::error_code ec;
  const auto used = beast.put(boost::asio::buffer(bytes), ec);
  if (ec || !beast.is_done() || used != quick.size || beast.get().result_int() != quick.status ||
      beast.keep_alive() != quick.keep_alive || beast.get().body() != quick.body) {
    std::abort();  // the quick path accepted what Beast reads differently
  }
  (void)smart::is_valid_payload(quick.body);
  return 0;
}
