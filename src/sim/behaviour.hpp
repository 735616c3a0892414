#pragma once
// What the simulated upstream does with each request: how long it "works"
// and how it answers. Pure and deterministic: with seed s, request number k
// of a run (or, keyed by request id, the k-th request carrying a given id)
// always gets the same plan.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace smart::sim {

enum class action : std::uint8_t {
  ok,            // 200 {"time": <ms>}
  server_error,  // 500 with a plain-text body
  too_many,      // 429 "Too many requests", at once
  invalid_json,  // 200 with a body that is not the expected JSON
  hang,          // never answers; holds the connection until the client closes it
  reset,         // resets the connection (RST) instead of answering
};

std::string_view to_string(action a);

struct latency_model {
  enum class kind : std::uint8_t { fixed, uniform, pareto };
  kind shape = kind::uniform;
  double a = 100;       // fixed: the value; uniform: min; pareto: scale (the minimum)
  double b = 600;       // uniform: max; pareto: shape alpha
  double cap = 60'000;  // pareto: the longest latency drawn

  // Maps a uniform random number in [0, 1) to a latency in milliseconds.
  [[nodiscard]] std::chrono::milliseconds sample(double u) const;
  [[nodiscard]] std::string describe() const;
};

// Percentages of requests answered each way; the rest succeed.
struct failure_mix {
  double server_error = 5;
  double too_many = 5;
  double invalid_json = 3;
  double hang = 1;
  double reset = 2;

  [[nodiscard]] double total() const {
    return server_error + too_many + invalid_json + hang + reset;
  }
  [[nodiscard]] std::string describe() const;
};

// "fixed:MS", "uniform:MIN:MAX" or "pareto:SCALE:ALPHA[:CAP]".
std::optional<latency_model> parse_latency(std::string_view text);
// "none", or comma-separated KIND=PERCENT with KIND in 500, 429, invalid,
// hang, reset (unnamed kinds are 0).
std::optional<failure_mix> parse_mix(std::string_view text);

struct plan {
  action what = action::ok;
  std::chrono::milliseconds delay{};
};

// Which number a request's plan is drawn for.
enum class plan_key : std::uint8_t {
  arrival,     // the request's arrival number in this run
  request_id,  // its X-Request-Id and how many earlier requests carried that id
               // (see id_key): a client that knows the ids knows every plan,
               // whatever order the requests arrive in
};

// The number drawn for the k-th (0-based) request carrying `id`: the 64-bit
// FNV-1a hash of the id plus k times 2^64/phi, modulo 2^64.
[[nodiscard]] std::uint64_t id_key(std::string_view id, std::uint64_t k);

// What a plan that answers at all (not hang, not reset) sends.
struct answer {
  unsigned status = 200;
  std::string_view content_type = "application/json";
  std::string body;
};
// `fixed_body`, when not empty, replaces {"time": <ms>}; `served` picks one
// of the invalid bodies in turn.
[[nodiscard]] answer answer_for(const plan& p, std::string_view fixed_body, std::uint64_t served);

// Bodies that are not a valid answer, in turn: broken JSON, a wrong type, a
// negative time, not JSON at all.
inline constexpr std::string_view invalid_bodies[] = {R"({"time": )", R"({"time": "fast"})",
                                                      R"({"time": -5})", "<html>busy</html>"};

class behaviour {
 public:
  behaviour(latency_model latency, failure_mix mix, std::uint64_t seed,
            plan_key key = plan_key::arrival)
      : latency_{latency}, mix_{mix}, seed_{seed}, key_{key} {}

  // The plan drawn for number n.
  [[nodiscard]] plan plan_for(std::uint64_t n) const;
  // The plan for the next request, which carried `request_id` (empty: none);
  // thread-safe. Requests without an id are keyed by arrival in any case.
  plan next(std::string_view request_id = {});

  // Ids are remembered for at least this long after their last request.
  static constexpr std::chrono::seconds id_memory{60};

 private:
  std::uint64_t earlier_with(std::string_view id);

  latency_model latency_;
  failure_mix mix_;
  std::uint64_t seed_;
  plan_key key_;
  std::atomic<std::uint64_t> counter_{0};
  // Requests per id, in two generations: the older is dropped when the newer
  // is id_memory old, so that memory stays bounded on a long run.
  std::mutex ids_mu_;
  std::unordered_map<std::string, std::uint64_t> ids_now_;
  std::unordered_map<std::string, std::uint64_t> ids_before_;
  std::chrono::steady_clock::time_point ids_since_ = std::chrono::steady_clock::now();
};

}  // namespace smart::sim
