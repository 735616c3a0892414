#pragma once
// The hedging rule of spec §2 and §3, as a pure state machine: events in
// (attempt finished, timer due), decisions out (start attempts, wake me at,
// the verdict). No I/O and no clock of its own: the caller passes `now`, so
// every timeline can be replayed exactly in a test.
//
// One machine serves every endpoint; a policy says when attempts start and
// when the answer is decided:
//   /api/smart            1 attempt at t=0, the hedges at the delay or as soon
//                         as every started attempt has failed; first success.
//   /api/first            3 at t=0; first success.
//   /api/all              3 at t=0; decided when all have finished.
//   /api/within-timeout   3 at t=0; whatever succeeded when all have finished
//                         or at the deadline.

#include "smart/clock.hpp"

#include <cstdint>
#include <string_view>

namespace smart::hedge {

enum class rule : std::uint8_t {
  first_success,  // the first success answers; all failed -> 502; deadline -> 504
  all_finished,   // answer when every attempt has finished; none succeeded -> 502; deadline -> 504
  by_deadline,    // answer with the successes when all have finished or at the deadline
};

struct policy {
  int initial_attempts = 1;  // started at t = 0
  int hedge_attempts = 0;    // started together later (see hedge_delay)
  duration hedge_delay{};    // when the hedges start unless every started attempt failed before
  rule decide = rule::first_success;

  [[nodiscard]] int total_attempts() const { return initial_attempts + hedge_attempts; }

  static policy hedged(int hedge_count, duration delay) {
    return {1, hedge_count, delay, rule::first_success};
  }
  static policy all_at_once(int attempts, rule r) { return {attempts, 0, duration{}, r}; }
};

enum class verdict : std::uint8_t {
  pending,     // not decided yet
  success,     // 200 with the winner's body
  collected,   // 200 with the bodies that succeeded (a JSON array)
  all_failed,  // 502
  deadline,    // 504
};

enum class hedge_reason : std::uint8_t { delay, failure };

std::string_view to_string(verdict v);
std::string_view to_string(hedge_reason r);

// What the caller must do after an event.
struct step {
  int launch = 0;         // start this many attempts now, numbered after those already started
  bool hedged = false;    // this launch fires the hedges ...
  hedge_reason reason{};  // ... for this reason
  time_point wake_at{};   // call on_timer() at this time (unless decided)
  verdict decided = verdict::pending;
  int winner = 0;  // 1-based attempt number, for verdict::success
};

class timeline {
 public:
  timeline(const policy& p, time_point start, time_point deadline);

  // Attempts are numbered from 1 in the order they were launched.
  step begin();
  step on_success(int attempt, time_point now);
  step on_failure(int attempt, time_point now);
  step on_timer(time_point now);

  // Only `kept` of the hedges that step `s` starts may run (the hedge budget
  // is short): the request goes on with those and the attempts already
  // running, and no hedge starts later. Returns `s` without the others,
  // re-decided when none is left.
  step withhold_hedges(const step& s, time_point now, int kept = 0);

  [[nodiscard]] int started() const { return started_; }
  [[nodiscard]] int outstanding() const { return started_ - finished_; }
  [[nodiscard]] int succeeded() const { return succeeded_; }
  [[nodiscard]] verdict decided() const { return decided_; }
  [[nodiscard]] time_point deadline() const { return deadline_; }

 private:
  [[nodiscard]] bool hedges_pending() const { return !hedged_ && policy_.hedge_attempts > 0; }
  [[nodiscard]] time_point hedge_at() const { return start_ + policy_.hedge_delay; }
  [[nodiscard]] time_point next_wake() const;
  void launch_hedges(step& s, hedge_reason why);
  step decide(verdict v, int winner = 0);
  step at_deadline();
  step settle(time_point now);

  policy policy_;
  time_point start_;
  time_point deadline_;
  int started_ = 0;
  int finished_ = 0;
  int succeeded_ = 0;
  bool hedged_ = false;
  verdict decided_ = verdict::pending;
};

}  // namespace smart::hedge
