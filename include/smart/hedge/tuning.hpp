#pragma once
// Opt-in refinements of the hedging policy (both off by default, when the
// specification's fixed policy applies unchanged):
//
//  - a hedge budget: hedge attempts may not exceed a percentage of first
//    attempts over a sliding window; when it is spent, a request goes on
//    with attempt 1 alone. This caps the extra load hedging puts on an
//    upstream that is slow everywhere, exactly when it can least take it.
//    Retries of a failed attempt 1 come first: they get what is left, one
//    attempt at least if one is left, and hedges for slowness leave room
//    for the retries that the recent rate of failures will ask for.
//  - an adaptive hedge delay: the delay follows an observed percentile of
//    first attempts' latency, between a floor and the configured delay.
//
// Both take `now` as a parameter, so that tests drive them with a
// controlled clock. Thread-safe.

#include "smart/clock.hpp"
#include "smart/hedge/timeline.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace smart::hedge {

// What the hedging refinements report. The service's metrics implement it;
// tests may count with a fake. Thread-safe implementations.
class tuning_stats {
 public:
  virtual void hedges_suppressed(int attempts) = 0;  // withheld by the budget
  virtual void hedge_budget_remaining(double attempts) = 0;
  virtual void hedge_delay(duration d) = 0;  // the delay in use

 protected:
  tuning_stats() = default;
  ~tuning_stats() = default;
  tuning_stats(const tuning_stats&) = default;
  tuning_stats& operator=(const tuning_stats&) = default;
};

// Hedge attempts allowed: percent % of the first attempts of the last
// `window`, plus `reserve` per window so that a quiet service can still hedge.
class hedge_budget {
 public:
  explicit hedge_budget(double percent, duration window = std::chrono::seconds{10},
                        int buckets = 10, int reserve = 10);

  void first_attempt(time_point now);
  // How many of `hedges` attempts may start now (and counts them). After a
  // failure, as many as the budget holds; for slowness, all of them if they
  // leave room for two buckets' worth of the window's failures, each retried
  // with `hedges` attempts, else none.
  int grant(int hedges, bool after_failure, time_point now);
  // Hedge attempts still allowed now.
  [[nodiscard]] double remaining(time_point now);

 private:
  struct counts {
    std::int64_t firsts = 0;
    std::int64_t hedges = 0;
    std::int64_t failures = 0;  // requests whose attempt 1 failed and asked for retries
  };
  struct bucket : counts {
    std::int64_t epoch = -1;
  };
  std::int64_t epoch_of(time_point now) const;
  counts totals(std::int64_t epoch) const;
  // Hedge attempts the window still allows (negative when overspent).
  double left(const counts& window) const;
  bucket& current(std::int64_t epoch);

  double percent_;
  duration bucket_length_;
  int reserve_;
  std::mutex mu_;
  std::vector<bucket> ring_;
};

// Latency percentiles of recent successful attempts. Log-spaced buckets of
// atomic counters (4 % apart, 100 µs to 60 s), in two halves of the window
// that take turns: record() is a relaxed add, percentile() a scan.
class latency_tracker {
 public:
  explicit latency_tracker(duration window = std::chrono::seconds{10});

  void record(duration latency, time_point now);
  // The q-quantile (0 < q < 1) of the latencies of the last window; nothing
  // when fewer than `min_samples` were recorded.
  [[nodiscard]] std::optional<duration> percentile(double q, time_point now,
                                                   std::uint64_t min_samples = 50) const;

  static constexpr std::size_t bucket_count = 340;

 private:
  struct half {
    std::atomic<std::int64_t> epoch{-1};
    std::array<std::atomic<std::uint64_t>, bucket_count> counts{};
  };
  std::int64_t epoch_of(time_point now) const;
  half& half_for(std::int64_t epoch);

  duration half_length_;
  std::array<half, 2> halves_;
};

struct tuning_options {
  double budget_percent = 0;  // 0: no budget
  double percentile = 0;      // 0: the configured delay, fixed
  duration configured_delay = std::chrono::milliseconds{300};
  duration floor = std::chrono::milliseconds{20};
};

// What the race consults: the delay to use now, and whether hedges may start.
class hedge_tuning {
 public:
  hedge_tuning(tuning_options options, tuning_stats& stats);

  [[nodiscard]] bool budgeted() const { return budget_.has_value(); }
  [[nodiscard]] bool adaptive() const { return options_.percentile > 0; }

  // The hedge delay for a request starting now.
  [[nodiscard]] duration delay(time_point now);
  void first_attempt(time_point now);
  // How many of `hedges` attempts may start now, for this reason (see
  // hedge_budget::grant); all of them without a budget.
  int grant_hedges(int hedges, hedge_reason why, time_point now);
  // The adaptive delay learns from the first attempts of hedged requests
  // only, the one attempt of every such request that is neither chosen by
  // the race (as a winner is) nor started late (as a hedge is): a successful
  // one at its latency, and one cut off after the hedge delay (a hedge won,
  // or the deadline passed) at the time it was cut, a lower bound of its
  // latency that is never below the delay in force. Without those, slow
  // first attempts would vanish from the sample whenever a hedge beat them,
  // and the delay would ratchet down to the floor.
  void succeeded(duration latency, time_point now);
  void cut_off(duration elapsed, time_point now);

 private:
  tuning_options options_;
  tuning_stats& stats_;
  std::optional<hedge_budget> budget_;
  latency_tracker latencies_;
  std::atomic<std::int64_t> delay_ns_;         // cached adaptive delay
  std::atomic<std::int64_t> refreshed_at_{0};  // clock ticks of the last refresh
};

}  // namespace smart::hedge
