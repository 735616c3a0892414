// The race engine with scripted attempts (timers, no sockets), on simulated
// time: which attempts start when, that losers are cancelled, and that
// nothing outlives the race. Every run replays the same events at the same
// simulated milliseconds, so the times asserted are exact.

#include "smart/hedge/race_impl.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/net.hpp"

#include "counting_stats.hpp"
#include "simulated_clock.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace smart::hedge {
namespace {

using namespace std::chrono_literals;

// The trace of the scripted races' request.
const trace::context script_trace = trace::start_trace();
using ms = std::chrono::milliseconds;
using testing::counting_stats;
using testing::simulated_clock;
using sim_timer = net::basic_waitable_timer<simulated_clock>;
using sim_workspace = basic_race_workspace<simulated_clock>;

// Runs what is ready, then steps the simulated clock by a millisecond, until
// `done` holds (or a simulated minute has passed).
template <typename Done>
void run_simulated(net::io_context& ioc, Done done) {
  for (int step = 0; step < 60'000; ++step) {
    if (ioc.stopped()) {
      ioc.restart();
    }
    ioc.poll();
    if (done()) {
      return;
    }
    simulated_clock::advance(1ms);
  }
}
using upstream::outcome;

struct scripted {
  struct step {
    ms delay;
    outcome result;
    std::string body = R"({"time": 1})";
  };
  struct event {
    int attempt;
    std::string what;  // start, finish, cancelled
    ms at;
  };

  explicit scripted(std::vector<step> script) : steps{std::move(script)} {}

  std::vector<step> steps;
  std::vector<event> log;
  std::vector<std::string> ids;  // the request id each attempt was given, in start order
  // The trace and tracestate each attempt was given ("" and none when none).
  std::vector<std::optional<trace::context>> traces;
  std::vector<std::string> tracestates;
  time_point t0 = simulated_clock::now();

  ms now() const { return std::chrono::duration_cast<ms>(simulated_clock::now() - t0); }

  attempt_fn fn() {
    return [this](int n, upstream::request_tags tags,
                  stop_signal& stop) -> net::awaitable<upstream::attempt_result> {
      log.push_back({n, "start", now()});
      ids.emplace_back(tags.request_id);
      traces.push_back(tags.trace != nullptr ? std::optional{*tags.trace} : std::nullopt);
      tracestates.emplace_back(tags.tracestate);
      const auto& s = steps.at(static_cast<std::size_t>(n - 1));
      sim_timer timer{co_await net::this_coro::executor, s.delay};
      // Honour a stop request at any time, like the upstream client.
      stop_callback on_stop{stop, [&timer] { timer.cancel(); }};
      auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      upstream::attempt_result r;
      if (ec) {
        log.push_back({n, "cancelled", now()});
        r.result = outcome::cancelled;
        co_return r;
      }
      log.push_back({n, "finish", now()});
      r.result = s.result;
      r.body = s.body;
      co_return r;
    };
  }

  ms when(int attempt, const std::string& what) const {
    for (const auto& e : log) {
      if (e.attempt == attempt && e.what == what) {
        return e.at;
      }
    }
    return ms{-1};
  }
};

struct run_result {
  race_result race;
  ms took;
};

// Runs one race to its end. The client "leaves" (a terminal cancellation of
// the race) after `client_leaves`, or when something emits on `client`.
run_result run(scripted& script, policy p, ms timeout, counting_stats& m,
               std::optional<ms> client_leaves = std::nullopt, const client_watch* watch = nullptr,
               net::cancellation_signal* client_signal = nullptr) {
  net::io_context ioc;
  attempt_fn fn = script.fn();
  net::cancellation_signal own_signal;
  auto& client = client_signal != nullptr ? *client_signal : own_signal;
  std::optional<race_result> result;
  script.t0 = simulated_clock::now();
  sim_workspace ws{ioc.get_executor()};
  ws.set_request("req-1", &script_trace, "k=v");
  net::co_spawn(
      ioc, run_race(ws, p, script.t0, script.t0 + timeout, fn, m, watch),
      net::bind_cancellation_slot(client.slot(), [&](const std::exception_ptr& e, race_result r) {
        if (e) {
          std::rethrow_exception(e);
        }
        result = std::move(r);
      }));
  sim_timer leave{ioc};
  if (client_leaves) {
    leave.expires_after(*client_leaves);
    leave.async_wait([&](const error_code& ec) {
      if (!ec) {
        client.emit(net::cancellation_type::terminal);
      }
    });
  }
  run_simulated(ioc, [&] { return result.has_value(); });
  EXPECT_TRUE(result.has_value()) << "the race did not finish";
  return {result.value_or(race_result{}), script.now()};
}

TEST(Race, HedgesAtTheDelayAndCancelsTheLosersWhenAttemptOneWins) {
  counting_stats m;
  scripted s{{{600ms, outcome::success, R"({"time": 600})"},
              {5000ms, outcome::success},
              {5000ms, outcome::success}}};
  const auto r = run(s, policy::hedged(2, 300ms), 2000ms, m);
  EXPECT_EQ(r.race.decided, verdict::success);
  EXPECT_EQ(r.race.winner, 1);
  EXPECT_EQ(r.race.body, R"({"time": 600})");
  EXPECT_EQ(r.race.attempts_started, 3);
  // Every attempt works for the same request, with its id and trace.
  EXPECT_EQ(s.ids, (std::vector<std::string>{"req-1", "req-1", "req-1"}));
  EXPECT_EQ(s.traces, (std::vector<std::optional<trace::context>>(3, script_trace)));
  EXPECT_EQ(s.tracestates, (std::vector<std::string>(3, "k=v")));
  EXPECT_EQ(s.when(1, "start"), 0ms);
  EXPECT_EQ(s.when(2, "start"), 300ms);
  EXPECT_EQ(s.when(3, "start"), 300ms);
  // The losers were cancelled as soon as attempt 1 won, before run_race returned.
  EXPECT_EQ(s.when(1, "finish"), 600ms);
  EXPECT_EQ(s.when(2, "cancelled"), 600ms);
  EXPECT_EQ(s.when(3, "cancelled"), 600ms);
  EXPECT_EQ(r.took, 600ms);
  EXPECT_EQ(m.attempts(outcome::cancelled), 2);
}

TEST(Race, EarlyFailureStartsTheHedgesAtOnce) {
  counting_stats m;
  scripted s{{{20ms, outcome::http_error}, {30ms, outcome::success}, {5000ms, outcome::success}}};
  const auto r = run(s, policy::hedged(2, 300ms), 2000ms, m);
  EXPECT_EQ(r.race.decided, verdict::success);
  EXPECT_EQ(r.race.winner, 2);
  EXPECT_EQ(s.when(1, "finish"), 20ms);
  EXPECT_EQ(s.when(2, "start"), 20ms);  // at once, not at the delay
  EXPECT_EQ(s.when(3, "start"), 20ms);
  EXPECT_EQ(r.took, 50ms);
  EXPECT_EQ(m.hedges(hedge_reason::failure), 1);
}

TEST(Race, DeadlineCancelsEverythingAndCountsTimeouts) {
  counting_stats m;
  scripted s{{{5000ms, outcome::success}, {5000ms, outcome::success}, {5000ms, outcome::success}}};
  const auto r = run(s, policy::hedged(2, 300ms), 500ms, m);
  EXPECT_EQ(r.race.decided, verdict::deadline);
  EXPECT_EQ(r.took, 500ms);
  for (int a = 1; a <= 3; ++a) {
    EXPECT_EQ(s.when(a, "cancelled"), 500ms) << a;
  }
  EXPECT_EQ(m.attempts(outcome::timeout), 3);
}

TEST(Race, ClientLeavingCancelsEverythingAtOnce) {
  counting_stats m;
  scripted s{{{5000ms, outcome::success}, {5000ms, outcome::success}, {5000ms, outcome::success}}};
  const auto r = run(s, policy::hedged(2, 300ms), 3000ms, m, 100ms);
  EXPECT_EQ(r.race.decided, verdict::pending);
  EXPECT_EQ(r.race.attempts_started, 1);  // it left before the hedge delay
  EXPECT_EQ(s.when(1, "cancelled"), 100ms);
  EXPECT_EQ(r.took, 100ms);
  EXPECT_EQ(m.attempts(outcome::cancelled), 1);
}

// What a client watch saw: when it started, and how it ended.
struct watch_probe {
  std::optional<time_point> started;
  std::optional<time_point> ended;
  error_code ended_with;
};

TEST(Race, TheClientWatchStartsOnlyAfterTheGrace) {
  counting_stats m;
  // A fast answer: no watch at all.
  {
    watch_probe probe;
    const client_watch watch{[&]() -> net::awaitable<void> {
                               probe.started = simulated_clock::now();
                               co_return;
                             },
                             50ms};
    scripted s{{{10ms, outcome::success}}};
    const auto r = run(s, policy::hedged(2, 300ms), 1000ms, m, std::nullopt, &watch);
    EXPECT_EQ(r.race.decided, verdict::success);
    EXPECT_FALSE(probe.started.has_value());
  }
  // A slow answer: the watch starts at the grace; the race is decided while
  // it waits, and it is cancelled then, and waited for.
  {
    watch_probe probe;
    const client_watch watch{
        [&]() -> net::awaitable<void> {
          probe.started = simulated_clock::now();
          sim_timer forever{co_await net::this_coro::executor, std::chrono::hours{1}};
          std::tie(probe.ended_with) =
              co_await forever.async_wait(net::as_tuple(net::use_awaitable));
          probe.ended = simulated_clock::now();
        },
        50ms};
    scripted s{{{150ms, outcome::success}}};
    const auto r = run(s, policy::hedged(2, 300ms), 3000ms, m, std::nullopt, &watch);
    EXPECT_EQ(r.race.decided, verdict::success);
    ASSERT_TRUE(probe.started.has_value());
    EXPECT_EQ(*probe.started - s.t0, 50ms);
    ASSERT_TRUE(probe.ended.has_value()) << "finish_race() did not wait for the watch";
    EXPECT_EQ(probe.ended_with, net::error::operation_aborted);
    EXPECT_EQ(*probe.ended - s.t0, 150ms);  // when the race was decided
  }
}

TEST(Race, AWatchThatFindsTheClientGoneEndsTheRaceByCancellingIt) {
  counting_stats m;
  net::cancellation_signal client;
  watch_probe probe;
  const client_watch watch{[&]() -> net::awaitable<void> {
                             probe.started = simulated_clock::now();
                             client.emit(net::cancellation_type::terminal);  // found gone at once
                             co_return;
                           },
                           50ms};
  scripted s{{{5000ms, outcome::success}}};
  const auto r = run(s, policy::hedged(2, 300ms), 3000ms, m, std::nullopt, &watch, &client);
  EXPECT_EQ(r.race.decided, verdict::pending);
  ASSERT_TRUE(probe.started.has_value());
  EXPECT_EQ(*probe.started - s.t0, 50ms);
  EXPECT_EQ(r.took, 50ms);  // ended by the watch, at once
  EXPECT_EQ(r.race.attempts_started, 1);
  EXPECT_EQ(m.attempts(outcome::cancelled), 1);
}

TEST(Race, CollectsSuccessesInCompletionOrder) {
  counting_stats m;
  scripted s{{{200ms, outcome::success, R"({"time": 200})"},
              {50ms, outcome::success, R"({"time": 50})"},
              {5000ms, outcome::success, R"({"time": 5000})"}}};
  const auto r = run(s, policy::all_at_once(3, rule::by_deadline), 500ms, m);
  EXPECT_EQ(r.race.decided, verdict::collected);
  EXPECT_EQ(r.race.body, R"([{"time": 50},{"time": 200}])");
  EXPECT_EQ(r.took, 500ms);
}

TEST(Race, AllFailedEndsAtOnce) {
  counting_stats m;
  scripted s{{{10ms, outcome::reset}, {20ms, outcome::invalid_body}, {30ms, outcome::timeout}}};
  const auto r = run(s, policy::all_at_once(3, rule::first_success), 2000ms, m);
  EXPECT_EQ(r.race.decided, verdict::all_failed);
  EXPECT_EQ(r.took, 30ms);  // with the last failure, not at the deadline
}

// Runs `count` /api/smart-like races in a row with the adaptive delay.
int hedge_wins(scripted& s, hedge_tuning& tuning, counting_stats& m, int count, ms timeout) {
  net::io_context ioc;
  attempt_fn fn = s.fn();
  sim_workspace ws{ioc.get_executor()};
  int wins = 0;
  bool done = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < count; ++i) {
          const auto start = simulated_clock::now();
          const auto p = policy::hedged(2, tuning.delay(start));
          const auto r =
              co_await decide_race(ws, p, start, start + timeout, fn, m, nullptr, &tuning);
          co_await finish_race(ws);
          wins += r.winner > 1 ? 1 : 0;
        }
        done = true;
      },
      net::detached);
  run_simulated(ioc, [&] { return done; });
  EXPECT_TRUE(done) << "the races did not finish";
  return wins;
}

TEST(Race, TheAdaptiveDelayLearnsFromFirstAttemptsEvenWhenAHedgeWins) {
  // Attempt 1 is slow, the hedges are fast: every race is won by a hedge.
  // Learning from the winners (2 ms) would drag the delay to the floor, and
  // hedge every request ever sooner; attempt 1 cut off after the delay says
  // that the upstream's median is at least that.
  counting_stats m;
  hedge_tuning tuning{{0, 50, 20ms, 1ms}, m};
  scripted slow_first{
      {{100ms, outcome::success}, {2ms, outcome::success}, {2ms, outcome::success}}};
  EXPECT_EQ(hedge_wins(slow_first, tuning, m, 60, 1s), 60);
  EXPECT_GE(tuning.delay(simulated_clock::now() + 1s), 19ms);

  // It does learn: once attempt 1 answers in 3 ms, the delay follows.
  scripted fast_first{{{3ms, outcome::success}, {2ms, outcome::success}, {2ms, outcome::success}}};
  hedge_wins(fast_first, tuning, m, 200, 1s);
  EXPECT_LE(tuning.delay(simulated_clock::now() + 1s), 10ms);
}

TEST(Race, DeadlinesShorterThanTheDelayTeachTheAdaptiveDelayNothing) {
  // Requests with a 5 ms timeout end before the 20 ms hedge delay: their
  // attempt 1 was cut short by the client's choice, not by the upstream.
  counting_stats m;
  hedge_tuning tuning{{0, 50, 20ms, 1ms}, m};
  scripted s{{{100ms, outcome::success}, {2ms, outcome::success}, {2ms, outcome::success}}};
  EXPECT_EQ(hedge_wins(s, tuning, m, 80, 5ms), 0);
  EXPECT_EQ(tuning.delay(simulated_clock::now() + 1s), 20ms);
}

}  // namespace
}  // namespace smart::hedge
