#pragma once
// upstream-sim's command line: flags with SIM_* environment twins.

#include "behaviour.hpp"
#include "protocol.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "smart/config.hpp"

namespace smart::sim {

struct options {
  std::string host = "0.0.0.0";
  std::uint16_t port = 9000;
  latency_model latency;  // uniform 100-600 ms, like the real upstream
  failure_mix mix;        // the default mix of failures
  std::uint64_t seed = 1;
  plan_key key = plan_key::arrival;
  int threads = 1;
  std::string body;  // successes answer this instead of {"time": <ms>} when set
  protocol_options wire;
};

struct options_outcome {
  enum class action { run, help, error };
  action what = action::run;
  options opts;
  std::string message;
};

options_outcome parse_options(std::span<const std::string_view> args, const env_lookup& env);

}  // namespace smart::sim
