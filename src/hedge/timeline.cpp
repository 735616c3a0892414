#include "smart/hedge/timeline.hpp"

#include <algorithm>

namespace smart::hedge {

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::pending:
      return "pending";
    case verdict::success:
      return "success";
    case verdict::collected:
      return "collected";
    case verdict::all_failed:
      return "all_failed";
    case verdict::deadline:
      return "deadline";
  }
  return "unknown";
}

std::string_view to_string(hedge_reason r) {
  return r == hedge_reason::delay ? "delay" : "failure";
}

timeline::timeline(const policy& p, time_point start, time_point deadline)
    : policy_{p}, start_{start}, deadline_{deadline} {}

time_point timeline::next_wake() const {
  return hedges_pending() && hedge_at() < deadline_ ? hedge_at() : deadline_;
}

void timeline::launch_hedges(step& s, hedge_reason why) {
  s.launch += policy_.hedge_attempts;
  s.hedged = true;
  s.reason = why;
  started_ += policy_.hedge_attempts;
  hedged_ = true;
}

step timeline::decide(verdict v, int winner) {
  decided_ = v;
  step s;
  s.decided = v;
  s.winner = winner;
  return s;
}

step timeline::at_deadline() {
  return decide(policy_.decide == rule::by_deadline ? verdict::collected : verdict::deadline);
}

step timeline::begin() {
  if (start_ >= deadline_) {
    return at_deadline();
  }
  step s;
  s.launch = policy_.initial_attempts;
  started_ = s.launch;
  if (hedges_pending() && hedge_at() <= start_) {
    launch_hedges(s, hedge_reason::delay);  // a zero delay hedges at once
  }
  s.wake_at = next_wake();
  return s;
}

// After an attempt finished: start the hedges early, decide, or keep waiting.
step timeline::settle(time_point now) {
  if (outstanding() == 0) {
    if (succeeded_ == 0 && hedges_pending() && now < deadline_) {
      // Every started attempt failed: none of them can succeed any more, so
      // waiting for the hedge delay would be pure loss.
      step s;
      launch_hedges(s, hedge_reason::failure);
      s.wake_at = next_wake();
      return s;
    }
    if (!hedges_pending() || now >= deadline_) {
      if (succeeded_ == 0) {
        if (now >= deadline_) {
          return at_deadline();
        }
        return decide(policy_.decide == rule::by_deadline ? verdict::collected
                                                          : verdict::all_failed);
      }
      return decide(verdict::collected);
    }
  }
  if (now >= deadline_) {
    return at_deadline();
  }
  step s;
  s.wake_at = next_wake();
  return s;
}

step timeline::on_success(int attempt, time_point now) {
  if (decided_ != verdict::pending) {
    return decide(decided_);
  }
  ++finished_;
  ++succeeded_;
  // A success is honoured whenever it is observed before the verdict, even a
  // hair after the deadline: it is the answer the client asked for.
  if (policy_.decide == rule::first_success) {
    return decide(verdict::success, attempt);
  }
  return settle(now);
}

step timeline::on_failure(int /*attempt*/, time_point now) {
  if (decided_ != verdict::pending) {
    return decide(decided_);
  }
  ++finished_;
  return settle(now);
}

step timeline::on_timer(time_point now) {
  if (decided_ != verdict::pending) {
    return decide(decided_);
  }
  if (now >= deadline_) {
    return at_deadline();
  }
  step s;
  if (hedges_pending() && now >= hedge_at()) {
    launch_hedges(s, hedge_reason::delay);
  }
  s.wake_at = next_wake();
  return s;
}

step timeline::withhold_hedges(const step& s, time_point now, int kept) {
  if (!s.hedged) {
    return s;
  }
  kept = std::clamp(kept, 0, policy_.hedge_attempts);
  const int dropped = policy_.hedge_attempts - kept;
  started_ -= dropped;  // hedged_ stays set: no hedge starts later
  if (kept > 0) {
    step out = s;
    out.launch -= dropped;
    return out;
  }
  const int others = s.launch - policy_.hedge_attempts;
  step out = settle(now);
  out.launch += others;
  return out;
}

}  // namespace smart::hedge
