#include "options.hpp"

#include <array>
#include <limits>

namespace smart::sim {

namespace {

struct flag {
  std::string_view name;
  std::string_view env;
  std::string_view help;
};

constexpr std::array<flag, 14> flags = {{
    {"--host", "SIM_HOST", "address to listen on [0.0.0.0]"},
    {"--port", "SIM_PORT", "TCP port, 0 for any free one [9000]"},
    {"--latency", "SIM_LATENCY",
     "fixed:MS | uniform:MIN:MAX | pareto:SCALE:ALPHA[:CAP] [uniform:100:600]"},
    {"--failures", "SIM_FAILURES",
     "none | KIND=PERCENT,... with KIND 500, 429, invalid, hang, reset\n"
     "                          [500=5,429=5,invalid=3,hang=1,reset=2]"},
    {"--seed", "SIM_SEED", "seed of the pseudo-random plan [1]"},
    {"--plan-by", "SIM_PLAN_BY",
     "arrival | request-id: draw each request's plan by its arrival number,\n"
     "                          or by its X-Request-Id and how many earlier\n"
     "                          requests carried that id [arrival]"},
    {"--threads", "SIM_THREADS", "I/O threads [1]"},
    {"--body", "SIM_BODY", "answer successes with this body instead of {\"time\": MS}"},
    {"--tls-cert", "SIM_TLS_CERT", "PEM certificate chain: serve TLS (with --tls-key) [none]"},
    {"--tls-key", "SIM_TLS_KEY", "PEM private key of --tls-cert [none]"},
    {"--http2", "SIM_HTTP2",
     "off | on | only: HTTP/2 by ALPN h2 over TLS and by the h2c\n"
     "                          preface on plain connections, beside HTTP/1.1 [on]"},
    {"--h2-max-streams", "SIM_H2_MAX_STREAMS", "SETTINGS_MAX_CONCURRENT_STREAMS [100]"},
    {"--h2-goaway-after", "SIM_H2_GOAWAY_AFTER",
     "GOAWAY after N streams on a connection; later\n"
     "                          streams are refused, unprocessed (0: never) [0]"},
    {"--h2-stall-window", "SIM_H2_STALL_WINDOW",
     "off | BYTES: each /api/work body stalls after BYTES,\n"
     "                          as if its flow-control window never reopened [off]"},
}};

std::string usage() {
  std::string out =
      "Usage: upstream-sim [OPTION]...\n"
      "Simulates the work API at GET /api/work: answers {\"time\": MS} after MS\n"
      "milliseconds, or fails as configured. GET /healthz answers 200, GET /stats\n"
      "the simulator's counters as JSON. HTTP/1.1 and HTTP/2, plain or TLS.\n\n";
  for (const auto& f : flags) {
    out += "  ";
    out += f.name;
    out += std::string(24 - f.name.size(), ' ');
    out += f.help;
    out += " (env ";
    out += f.env;
    out += ")\n";
  }
  return out;
}

// Applies one option; returns an error message or "".
std::string apply(options& o, std::string_view name, std::string_view value) {
  if (name == "--host") {
    if (value.empty()) {
      return "must not be empty";
    }
    o.host = value;
  } else if (name == "--port") {
    const auto v = parse_decimal(value, 0, 65535);
    if (!v) {
      return "must be an integer from 0 to 65535";
    }
    o.port = static_cast<std::uint16_t>(*v);
  } else if (name == "--latency") {
    const auto v = parse_latency(value);
    if (!v) {
      return "expected fixed:MS, uniform:MIN:MAX or pareto:SCALE:ALPHA[:CAP]";
    }
    o.latency = *v;
  } else if (name == "--failures") {
    const auto v = parse_mix(value);
    if (!v) {
      return "expected none or KIND=PERCENT,... (500, 429, invalid, hang, reset; total <= 100)";
    }
    o.mix = *v;
  } else if (name == "--seed") {
    const auto v = parse_decimal(value, 0, std::numeric_limits<std::uint64_t>::max());
    if (!v) {
      return "must be a non-negative integer";
    }
    o.seed = *v;
  } else if (name == "--plan-by") {
    if (value == "arrival") {
      o.key = plan_key::arrival;
    } else if (value == "request-id") {
      o.key = plan_key::request_id;
    } else {
      return "expected arrival or request-id";
    }
  } else if (name == "--threads") {
    const auto v = parse_decimal(value, 1, 64);
    if (!v) {
      return "must be an integer from 1 to 64";
    }
    o.threads = static_cast<int>(*v);
  } else if (name == "--body") {
    o.body = value;
  } else if (name == "--tls-cert") {
    o.wire.tls_cert = value;
  } else if (name == "--tls-key") {
    o.wire.tls_key = value;
  } else if (name == "--http2") {
    if (value == "off") {
      o.wire.http2 = http2_mode::off;
    } else if (value == "on") {
      o.wire.http2 = http2_mode::on;
    } else if (value == "only") {
      o.wire.http2 = http2_mode::only;
    } else {
      return "expected off, on or only";
    }
  } else if (name == "--h2-max-streams") {
    const auto v = parse_decimal(value, 1, 1'000'000);
    if (!v) {
      return "must be an integer from 1 to 1000000";
    }
    o.wire.h2_max_streams = static_cast<std::uint32_t>(*v);
  } else if (name == "--h2-goaway-after") {
    const auto v = parse_decimal(value, 0, 1'000'000'000);
    if (!v) {
      return "must be an integer from 0 to 1000000000";
    }
    o.wire.h2_goaway_after = static_cast<std::uint32_t>(*v);
  } else if (name == "--h2-stall-window") {
    if (value == "off") {
      o.wire.h2_stall_window.reset();
    } else {
      const auto v = parse_decimal(value, 0, 1'000'000);
      if (!v) {
        return "expected off or an integer from 0 to 1000000";
      }
      o.wire.h2_stall_window = static_cast<std::uint32_t>(*v);
    }
  } else {
    return "unknown option (see --help)";
  }
  return {};
}

}  // namespace

options_outcome parse_options(std::span<const std::string_view> args, const env_lookup& env) {
  options_outcome out;
  auto fail = [&out](std::string_view name, std::string_view value, const std::string& why) {
    out.what = options_outcome::action::error;
    out.message = std::string{name} + ": invalid value '" + std::string{value} + "': " + why;
    return out;
  };
  for (const auto& f : flags) {
    if (auto value = env(f.env)) {
      if (auto err = apply(out.opts, f.name, *value); !err.empty()) {
        return fail(f.env, *value, err);
      }
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.what = options_outcome::action::help;
      out.message = usage();
      return out;
    }
    const auto eq = arg.find('=');
    const auto name = arg.substr(0, eq);
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      out.what = options_outcome::action::error;
      out.message = std::string{name} + ": missing value";
      return out;
    }
    if (auto err = apply(out.opts, name, value); !err.empty()) {
      return fail(name, value, err);
    }
  }
  if (out.opts.wire.tls_cert.empty() != out.opts.wire.tls_key.empty()) {
    out.what = options_outcome::action::error;
    out.message = "--tls-cert and --tls-key go together";
  }
  return out;
}

}  // namespace smart::sim
