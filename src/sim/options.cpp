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

constexpr std::array<flag, 8> flags = {{
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
}};

std::string usage() {
  std::string out =
      "Usage: upstream-sim [OPTION]...\n"
      "Simulates the work API at GET /api/work: answers {\"time\": MS} after MS\n"
      "milliseconds, or fails as configured. GET /healthz answers 200.\n\n";
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
  return out;
}

}  // namespace smart::sim
