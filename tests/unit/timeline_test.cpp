// The hedging timeline of spec §2 and §3, replayed with a controlled clock:
// every event is fed with its time, every decision is asserted.

#include "smart/hedge/timeline.hpp"

#include <gtest/gtest.h>

namespace smart::hedge {
namespace {

using std::chrono::milliseconds;

const time_point t0{};
time_point at(int ms) {
  return t0 + milliseconds{ms};
}

policy smart_policy() {
  return policy::hedged(2, milliseconds{300});
}

TEST(Timeline, StartsOnlyAttemptOneAndWakesAtTheHedgeDelay) {
  timeline tl{smart_policy(), t0, at(1500)};
  const auto s = tl.begin();
  EXPECT_EQ(s.launch, 1);
  EXPECT_FALSE(s.hedged);
  EXPECT_EQ(s.wake_at, at(300));
  EXPECT_EQ(s.decided, verdict::pending);
}

TEST(Timeline, SuccessBeforeTheDelayAnswersAndNeverHedges) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.on_success(1, at(160));
  EXPECT_EQ(s.decided, verdict::success);
  EXPECT_EQ(s.winner, 1);
  EXPECT_EQ(s.launch, 0);
  EXPECT_EQ(tl.started(), 1);
}

TEST(Timeline, HedgesStartTogetherAtTheDelayAndAttemptOneKeepsRunning) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.on_timer(at(300));
  EXPECT_EQ(s.launch, 2);
  EXPECT_TRUE(s.hedged);
  EXPECT_EQ(s.reason, hedge_reason::delay);
  EXPECT_EQ(s.wake_at, at(1500));
  EXPECT_EQ(tl.outstanding(), 3);  // attempt 1 was not cut off
  // Attempt 1 can still win after the hedges started.
  const auto win = tl.on_success(1, at(450));
  EXPECT_EQ(win.decided, verdict::success);
  EXPECT_EQ(win.winner, 1);
}

TEST(Timeline, AHedgeCanWin) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  tl.on_timer(at(300));
  const auto s = tl.on_success(3, at(420));
  EXPECT_EQ(s.decided, verdict::success);
  EXPECT_EQ(s.winner, 3);
}

TEST(Timeline, EarlyFailureOfAttemptOneStartsTheHedgesAtOnce) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.on_failure(1, at(40));
  EXPECT_EQ(s.launch, 2);
  EXPECT_TRUE(s.hedged);
  EXPECT_EQ(s.reason, hedge_reason::failure);
  EXPECT_EQ(s.decided, verdict::pending);
  EXPECT_EQ(s.wake_at, at(1500));  // no second hedge wake-up
  // The timer that was due at 300 ms has nothing more to start.
  const auto later = tl.on_timer(at(300));
  EXPECT_EQ(later.launch, 0);
}

TEST(Timeline, FailuresNeverEndTheRaceWhileAnAttemptIsOutstanding) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  tl.on_timer(at(300));
  EXPECT_EQ(tl.on_failure(2, at(310)).decided, verdict::pending);
  EXPECT_EQ(tl.on_failure(1, at(320)).decided, verdict::pending);
  const auto s = tl.on_success(3, at(700));
  EXPECT_EQ(s.decided, verdict::success);
  EXPECT_EQ(s.winner, 3);
}

TEST(Timeline, AllFailedIsDecidedAtOnceNotAtTheDeadline) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  tl.on_failure(1, at(10));
  tl.on_failure(2, at(20));
  const auto s = tl.on_failure(3, at(30));
  EXPECT_EQ(s.decided, verdict::all_failed);
  EXPECT_EQ(tl.started(), 3);
}

TEST(Timeline, DeadlineDecidesWhenNothingSucceeded) {
  timeline tl{smart_policy(), t0, at(1000)};
  tl.begin();
  tl.on_timer(at(300));
  const auto s = tl.on_timer(at(1000));
  EXPECT_EQ(s.decided, verdict::deadline);
}

TEST(Timeline, TimeoutBelowTheDelayRunsOnlyAttemptOne) {
  timeline tl{smart_policy(), t0, at(200)};
  const auto s = tl.begin();
  EXPECT_EQ(s.launch, 1);
  EXPECT_EQ(s.wake_at, at(200));  // the deadline, not the hedge delay
  EXPECT_EQ(tl.on_timer(at(200)).decided, verdict::deadline);
  EXPECT_EQ(tl.started(), 1);
}

TEST(Timeline, TimeoutBelowTheDelayStillHedgesOnEarlyFailure) {
  timeline tl{smart_policy(), t0, at(200)};
  tl.begin();
  const auto s = tl.on_failure(1, at(50));
  EXPECT_EQ(s.launch, 2);
  EXPECT_EQ(s.reason, hedge_reason::failure);
  EXPECT_EQ(s.wake_at, at(200));
}

TEST(Timeline, TimeoutEqualToTheDelayNeverStartsHedges) {
  // No attempt starts at or after the deadline.
  timeline tl{smart_policy(), t0, at(300)};
  const auto s = tl.begin();
  EXPECT_EQ(s.wake_at, at(300));
  const auto due = tl.on_timer(at(300));
  EXPECT_EQ(due.launch, 0);
  EXPECT_EQ(due.decided, verdict::deadline);
  EXPECT_EQ(tl.started(), 1);
}

TEST(Timeline, NoAttemptStartsAfterTheDeadlineEvenOnFailure) {
  timeline tl{smart_policy(), t0, at(200)};
  tl.begin();
  // The failure is observed only at the deadline: the hedges may not start.
  const auto s = tl.on_failure(1, at(200));
  EXPECT_EQ(s.launch, 0);
  EXPECT_EQ(s.decided, verdict::deadline);
}

TEST(Timeline, ASuccessObservedWithTheDeadlineStillAnswers) {
  timeline tl{smart_policy(), t0, at(500)};
  tl.begin();
  tl.on_timer(at(300));
  const auto s = tl.on_success(2, at(500));
  EXPECT_EQ(s.decided, verdict::success);
  EXPECT_EQ(s.winner, 2);
}

TEST(Timeline, ZeroHedgeDelayStartsEverythingAtOnce) {
  timeline tl{policy::hedged(2, milliseconds{0}), t0, at(1000)};
  const auto s = tl.begin();
  EXPECT_EQ(s.launch, 3);
  EXPECT_TRUE(s.hedged);
}

TEST(Timeline, NoHedgesConfiguredMeansFailureIsFinal) {
  timeline tl{policy::hedged(0, milliseconds{300}), t0, at(1000)};
  const auto s = tl.begin();
  EXPECT_EQ(s.wake_at, at(1000));
  EXPECT_EQ(tl.on_failure(1, at(10)).decided, verdict::all_failed);
}

TEST(Timeline, EventsAfterTheVerdictChangeNothing) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  tl.on_success(1, at(100));
  const auto s = tl.on_timer(at(300));
  EXPECT_EQ(s.launch, 0);
  EXPECT_EQ(s.decided, verdict::success);
}

// --- hedges withheld (the hedge budget is spent) ---------------------------

TEST(Timeline, WithheldHedgesLeaveAttemptOneAloneUntilTheDeadline) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.withhold_hedges(tl.on_timer(at(300)), at(300));
  EXPECT_EQ(s.launch, 0);
  EXPECT_FALSE(s.hedged);
  EXPECT_EQ(s.decided, verdict::pending);
  EXPECT_EQ(s.wake_at, at(1500));
  EXPECT_EQ(tl.started(), 1);
  EXPECT_EQ(tl.on_success(1, at(700)).decided, verdict::success);
}

TEST(Timeline, WithheldHedgesAfterAnEarlyFailureMean502AtOnce) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.withhold_hedges(tl.on_failure(1, at(20)), at(20));
  EXPECT_EQ(s.launch, 0);
  EXPECT_EQ(s.decided, verdict::all_failed);
}

TEST(Timeline, HedgesCutShortStillRunTheOnesKept) {
  timeline tl{smart_policy(), t0, at(1500)};
  tl.begin();
  const auto s = tl.withhold_hedges(tl.on_failure(1, at(20)), at(20), 1);
  EXPECT_EQ(s.launch, 1);
  EXPECT_TRUE(s.hedged);
  EXPECT_EQ(tl.started(), 2);
  EXPECT_EQ(tl.on_timer(at(300)).launch, 0);  // no more hedges later
  EXPECT_EQ(tl.on_failure(2, at(400)).decided, verdict::all_failed);
}

TEST(Timeline, WithheldHedgesAtZeroDelayKeepAttemptOne) {
  timeline tl{policy::hedged(2, milliseconds{0}), t0, at(1000)};
  const auto s = tl.withhold_hedges(tl.begin(), t0);
  EXPECT_EQ(s.launch, 1);
  EXPECT_EQ(tl.started(), 1);
  EXPECT_EQ(s.wake_at, at(1000));
  // No hedge comes later either.
  EXPECT_EQ(tl.on_timer(at(500)).launch, 0);
}

// --- the classic endpoints -------------------------------------------------

TEST(Timeline, FirstStartsThreeAtOnceAndTakesTheFirstSuccess) {
  timeline tl{policy::all_at_once(3, rule::first_success), t0, at(1000)};
  const auto s = tl.begin();
  EXPECT_EQ(s.launch, 3);
  EXPECT_EQ(s.wake_at, at(1000));
  EXPECT_EQ(tl.on_failure(2, at(50)).decided, verdict::pending);
  const auto win = tl.on_success(3, at(80));
  EXPECT_EQ(win.decided, verdict::success);
  EXPECT_EQ(win.winner, 3);
}

TEST(Timeline, FirstAllFailedIs502AndDeadlineIs504) {
  timeline failed{policy::all_at_once(3, rule::first_success), t0, at(1000)};
  failed.begin();
  failed.on_failure(1, at(1));
  failed.on_failure(2, at(2));
  EXPECT_EQ(failed.on_failure(3, at(3)).decided, verdict::all_failed);

  timeline late{policy::all_at_once(3, rule::first_success), t0, at(1000)};
  late.begin();
  EXPECT_EQ(late.on_timer(at(1000)).decided, verdict::deadline);
}

TEST(Timeline, AllWaitsForEveryAttempt) {
  timeline tl{policy::all_at_once(3, rule::all_finished), t0, at(1000)};
  tl.begin();
  EXPECT_EQ(tl.on_success(2, at(100)).decided, verdict::pending);
  EXPECT_EQ(tl.on_failure(1, at(200)).decided, verdict::pending);
  EXPECT_EQ(tl.on_success(3, at(300)).decided, verdict::collected);
}

TEST(Timeline, AllWithNoSuccessIs502AndUnfinishedAtTheDeadlineIs504) {
  timeline none{policy::all_at_once(3, rule::all_finished), t0, at(1000)};
  none.begin();
  none.on_failure(1, at(1));
  none.on_failure(2, at(2));
  EXPECT_EQ(none.on_failure(3, at(3)).decided, verdict::all_failed);

  timeline late{policy::all_at_once(3, rule::all_finished), t0, at(1000)};
  late.begin();
  late.on_success(1, at(10));
  late.on_success(2, at(20));
  EXPECT_EQ(late.on_timer(at(1000)).decided, verdict::deadline);
}

TEST(Timeline, WithinTimeoutAnswersWhenAllFinished) {
  timeline tl{policy::all_at_once(3, rule::by_deadline), t0, at(1000)};
  tl.begin();
  tl.on_success(1, at(10));
  tl.on_failure(2, at(20));
  EXPECT_EQ(tl.on_success(3, at(30)).decided, verdict::collected);
}

TEST(Timeline, WithinTimeoutAnswersAtTheDeadlineEvenWithNothing) {
  timeline tl{policy::all_at_once(3, rule::by_deadline), t0, at(1000)};
  tl.begin();
  EXPECT_EQ(tl.on_timer(at(1000)).decided, verdict::collected);

  timeline failed{policy::all_at_once(3, rule::by_deadline), t0, at(1000)};
  failed.begin();
  failed.on_failure(1, at(1));
  failed.on_failure(2, at(2));
  // Never an error for upstream reasons: an empty collection.
  EXPECT_EQ(failed.on_failure(3, at(3)).decided, verdict::collected);
}

}  // namespace
}  // namespace smart::hedge
