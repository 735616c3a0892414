// The opt-in hedging refinements, on a controlled clock: budget accounting
// and its window, percentile tracking and its window, the delay's bounds,
// cut-off attempts as lower bounds.

#include "smart/hedge/tuning.hpp"
#include "counting_stats.hpp"

#include <gtest/gtest.h>

namespace smart::hedge {
namespace {

using namespace std::chrono_literals;

const time_point t0{std::chrono::hours{1}};

TEST(HedgeBudget, AllowsAPercentageOfFirstAttemptsPlusAReserve) {
  hedge_budget budget{20, 10s, 10, 2};  // 20 %, plus 2 per window
  for (int i = 0; i < 100; ++i) {
    budget.first_attempt(t0);
  }
  EXPECT_DOUBLE_EQ(budget.remaining(t0), 22.0);
  int granted = 0;
  for (int i = 0; i < 20; ++i) {
    granted += budget.grant(2, false, t0);  // requests of 2 hedges each
  }
  EXPECT_EQ(granted, 22);
  EXPECT_EQ(budget.grant(2, false, t0), 0);
  EXPECT_DOUBLE_EQ(budget.remaining(t0), 0.0);
}

TEST(HedgeBudget, HedgesForSlownessAreAllOrNothing) {
  hedge_budget budget{0, 10s, 10, 3};
  EXPECT_EQ(budget.grant(2, false, t0), 2);
  EXPECT_EQ(budget.grant(2, false, t0), 0);  // one left: not enough for two
  EXPECT_EQ(budget.grant(1, false, t0), 1);
}

TEST(HedgeBudget, RetriesAfterAFailureGetWhatIsLeft) {
  hedge_budget budget{0, 10s, 10, 3};
  EXPECT_EQ(budget.grant(2, true, t0), 2);
  EXPECT_EQ(budget.grant(2, true, t0), 1);  // one left: one retry rather than none
  EXPECT_EQ(budget.grant(2, true, t0), 0);
  EXPECT_DOUBLE_EQ(budget.remaining(t0), 0.0);
}

TEST(HedgeBudget, HedgesForSlownessLeaveRoomForTheRetriesOfRecentFailures) {
  hedge_budget budget{0, 10s, 10, 20};  // 10 buckets of a second
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(budget.grant(2, true, t0), 2);  // five failures: 10 attempts left
  }
  // Two seconds' worth of five failures a window, two retries each: keep 2.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(budget.grant(2, false, t0), 2);
  }
  EXPECT_EQ(budget.grant(2, false, t0), 0);  // would leave nothing for them
  EXPECT_EQ(budget.grant(2, true, t0), 2);   // the room kept: the next failure's retries
  // Ten seconds on, the failures have left the window with the rest.
  EXPECT_EQ(budget.grant(2, false, t0 + 10s), 2);
}

TEST(HedgeBudget, OldTrafficLeavesTheWindow) {
  hedge_budget budget{50, 10s, 10, 0};
  for (int i = 0; i < 10; ++i) {
    budget.first_attempt(t0);
  }
  EXPECT_EQ(budget.grant(5, false, t0), 5);
  EXPECT_EQ(budget.grant(1, false, t0 + 5s), 0);  // still within the window
  // Ten seconds on, neither those first attempts nor those hedges count.
  EXPECT_DOUBLE_EQ(budget.remaining(t0 + 10s), 0.0);
  for (int i = 0; i < 4; ++i) {
    budget.first_attempt(t0 + 10s);
  }
  EXPECT_DOUBLE_EQ(budget.remaining(t0 + 10s), 2.0);
  EXPECT_EQ(budget.grant(2, false, t0 + 10s), 2);
}

TEST(LatencyTracker, NeedsEnoughSamples) {
  latency_tracker tracker{10s};
  for (int i = 0; i < 49; ++i) {
    tracker.record(100ms, t0);
  }
  EXPECT_FALSE(tracker.percentile(0.9, t0));
  tracker.record(100ms, t0);
  EXPECT_TRUE(tracker.percentile(0.9, t0));
}

TEST(LatencyTracker, FindsPercentilesWithinItsResolution) {
  latency_tracker tracker{10s};
  for (int ms = 1; ms <= 1000; ++ms) {
    tracker.record(std::chrono::milliseconds{ms}, t0);
  }
  for (const auto& [q, expected] : {std::pair{0.5, 500.0}, {0.9, 900.0}, {0.99, 990.0}}) {
    const auto p = tracker.percentile(q, t0);
    ASSERT_TRUE(p);
    const double got = std::chrono::duration<double, std::milli>(*p).count();
    EXPECT_GE(got, expected) << q;         // buckets report their upper bound
    EXPECT_LE(got, expected * 1.05) << q;  // 4 % apart
  }
}

TEST(LatencyTracker, ForgetsWhatLeftTheWindow) {
  latency_tracker tracker{10s};
  for (int i = 0; i < 100; ++i) {
    tracker.record(900ms, t0);
  }
  for (int i = 0; i < 100; ++i) {
    tracker.record(100ms, t0 + 6s);
  }
  // At 6 s both halves count; from 10 s on, only the recent one.
  EXPECT_GT(*tracker.percentile(0.9, t0 + 6s), 800ms);
  EXPECT_LT(*tracker.percentile(0.9, t0 + 11s), 110ms);
  EXPECT_FALSE(tracker.percentile(0.9, t0 + 21s));
}

TEST(HedgeTuning, TheDelayFollowsThePercentileWithinItsBounds) {
  testing::counting_stats m;
  hedge_tuning fixed{{0, 0, 300ms, 20ms}, m};
  EXPECT_EQ(fixed.delay(t0), 300ms);

  hedge_tuning adaptive{{0, 90, 300ms, 20ms}, m};
  EXPECT_EQ(adaptive.delay(t0), 300ms);  // no samples yet: the configured delay
  for (int i = 0; i < 100; ++i) {
    adaptive.succeeded(std::chrono::milliseconds{100 + i}, t0);
  }
  const auto d = adaptive.delay(t0 + 200ms);
  EXPECT_GE(d, 190ms);
  EXPECT_LE(d, 200ms * 1.05);
  for (int i = 0; i < 2000; ++i) {
    adaptive.succeeded(5ms, t0 + 300ms);
  }
  EXPECT_EQ(adaptive.delay(t0 + 600ms), 20ms);  // never below the floor
  for (int i = 0; i < 1000; ++i) {
    adaptive.succeeded(2s, t0 + 700ms);
  }
  EXPECT_EQ(adaptive.delay(t0 + 900ms), 300ms);  // never above the configured delay
}

TEST(HedgeTuning, CutOffFirstAttemptsCountAsLowerBounds) {
  testing::counting_stats m;
  hedge_tuning adaptive{{0, 50, 300ms, 20ms}, m};
  // 40 first attempts answered in 50 ms; 60 were cut off at 250 ms, when a
  // hedge won: the median latency is at least 250 ms, not 50.
  for (int i = 0; i < 40; ++i) {
    adaptive.succeeded(50ms, t0);
  }
  for (int i = 0; i < 60; ++i) {
    adaptive.cut_off(250ms, t0);
  }
  const auto d = adaptive.delay(t0 + 200ms);
  EXPECT_GE(d, 240ms);
  EXPECT_LE(d, 260ms);
}

TEST(HedgeTuning, AFloorAboveTheConfiguredDelayGivesWay) {
  testing::counting_stats m;
  hedge_tuning adaptive{{0, 90, 100ms, 150ms}, m};
  for (int i = 0; i < 100; ++i) {
    adaptive.succeeded(5ms, t0);
  }
  EXPECT_EQ(adaptive.delay(t0 + 200ms), 100ms);
}

TEST(HedgeTuning, ABudgetCountsSuppressedHedges) {
  testing::counting_stats m;
  hedge_tuning tuning{{10, 0, 300ms, 20ms}, m};
  EXPECT_TRUE(tuning.budgeted());
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    tuning.first_attempt(t0);
  }
  for (int i = 0; i < 100; ++i) {
    allowed += tuning.grant_hedges(2, hedge_reason::delay, t0);
  }
  EXPECT_EQ(allowed, 20);  // 10 % of 100, plus 10
  EXPECT_EQ(m.suppressed(), 180);
  EXPECT_EQ(m.budget_remaining(), 0);
}

}  // namespace
}  // namespace smart::hedge
