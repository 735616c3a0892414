#include "protocol.hpp"

#include <array>
#include <string_view>

namespace smart::sim {

namespace {

void field(std::string& out, std::string_view name, const std::atomic<std::uint64_t>& value) {
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(value.load(std::memory_order_relaxed));
}

}  // namespace

std::string sim_stats::to_json() const {
  constexpr std::array<std::string_view, wire_kinds> names = {"http1", "http1_tls", "h2", "h2c"};
  std::string out = R"({"connections":{)";
  for (std::size_t i = 0; i < wire_kinds; ++i) {
    if (i != 0) {
      out += ',';
    }
    out += '"';
    out += names[i];
    out += "\":{";
    field(out, "opened", connections[i].opened);
    out += ',';
    field(out, "open", connections[i].open);
    out += '}';
  }
  out += "},";
  const std::array<std::pair<std::string_view, const std::atomic<std::uint64_t>*>, 12> counters = {{
      {"tls_handshake_failures", &tls_handshake_failures},
      {"refused_connections", &refused_connections},
      {"work_requests", &work_requests},
      {"streams", &streams},
      {"peak_open_streams", &peak_open_streams},
      {"streams_cancelled", &streams_cancelled},
      {"streams_reset_by_client", &streams_reset_by_client},
      {"streams_reset", &streams_reset},
      {"streams_refused", &streams_refused},
      {"streams_stalled", &streams_stalled},
      {"goaways_sent", &goaways_sent},
      {"goaways_received", &goaways_received},
  }};
  bool first = true;
  for (const auto& [name, value] : counters) {
    if (!first) {
      out += ',';
    }
    first = false;
    field(out, name, *value);
  }
  out += '}';
  return out;
}

}  // namespace smart::sim
