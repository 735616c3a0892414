// The payload rule, hand-written (src/upstream/payload.cpp) against the same
// rule on nlohmann/json's SAX parser (tests/support/payload_reference.hpp),
// side by side in one run, on the bodies an upstream sends. bench/bench.py
// runs it (step "payload") and reports the ratio.

#include "smart/upstream/payload.hpp"

#include "payload_reference.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct body {
  const char* name;
  std::string text;
};

const std::vector<body>& bodies() {
  static const std::vector<body> all = {
      {"typical", R"({"time": 160})"},
      {"members", R"({"id": "a1b2c3", "tags": ["x", "y"], "meta": {"n": 3}, "time": 412})"},
      {"invalid_json", R"({"time": )"},
      {"error_page", "Internal Server Error"},
      {"large_64k", R"({"time": 3, "pad": ")" + std::string(60000, 'x') + "\"}"},
  };
  return all;
}

void hand_written(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(smart::is_valid_payload(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void nlohmann_sax(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(smart::testing::reference_payload_check(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

}  // namespace

int main(int argc, char** argv) {
  for (const auto& b : bodies()) {
    // Both must say the same, or the comparison means nothing.
    if (smart::is_valid_payload(b.text) != smart::testing::reference_payload_check(b.text)) {
      return EXIT_FAILURE;
    }
    benchmark::RegisterBenchmark((std::string{"hand_written/"} + b.name).c_str(), hand_written,
                                 b.text);
    benchmark::RegisterBenchmark((std::string{"nlohmann_sax/"} + b.name).c_str(), nlohmann_sax,
                                 b.text);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return EXIT_SUCCESS;
}
