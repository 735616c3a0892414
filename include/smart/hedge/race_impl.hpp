#pragma once
// The race's implementation, a template on its clock: race.cpp compiles it
// once for the service's clock; a test may compile it for a simulated clock
// (one whose now() and timers advance only when the test says), so that a
// race replays exactly. Everything else includes race.hpp only.

#include "smart/hedge/race.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/net.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <exception>
#include <optional>
#include <type_traits>

namespace smart::hedge {

namespace race_detail {

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace race_detail

// Shared by the driver and the attempts' completion handlers. Everything runs
// on the workspace's executor (a strand), so no locking: a completion handler
// records its result and cancels the wake-up timer to resume the driver.
template <typename Clock>
struct basic_race_workspace<Clock>::state {
  static_assert(std::is_same_v<typename Clock::time_point, time_point>,
                "a race's clock counts in the service's time_point, which the policy takes");

  explicit state(const net::any_io_executor& ex) : wake{ex} {}

  struct attempt_slot {
    stop_signal stop;
    time_point started{};
    bool running = false;
    bool cut_by_deadline = false;  // stopped because the deadline passed
    bool counted = false;          // already in the metrics
    upstream::attempt_result result;
  };

  // Ready for the next race (the previous one left nothing running).
  void reset() {
    for (int i = 0; i < used; ++i) {
      auto& slot = slots[static_cast<std::size_t>(i)];
      slot.stop.reset();
      slot.cut_by_deadline = false;
      slot.counted = false;
      slot.result.body.clear();
    }
    used = 0;
    watch_started = false;
    finished_count = 0;
    processed = 0;
    running = 0;
  }

  void complete(int index, upstream::attempt_result r) {
    auto& s = slots[static_cast<std::size_t>(index)];
    s.running = false;
    s.result = std::move(r);
    finished[static_cast<std::size_t>(finished_count++)] = index;
    --running;
    wake.cancel();
  }

  // Records a finished attempt in the metrics; returns whether it succeeded.
  bool account(int index, time_point now) {
    auto& slot = slots[static_cast<std::size_t>(index)];
    auto o = slot.result.result;
    if (o == upstream::outcome::cancelled && slot.cut_by_deadline) {
      o = upstream::outcome::timeout;
    }
    if (!slot.counted) {
      slot.counted = true;
      stats->attempt_finished(o, now - slot.started);
      if (o == upstream::outcome::success && learn && index == 0) {
        tuning->succeeded(now - slot.started, now);
      }
    }
    return o == upstream::outcome::success;
  }

  // The driver's wake-up: it sleeps until the next time the timeline asks
  // for, and a finished attempt (or the watch ending) cancels the wait to
  // wake it sooner. Asio's way to wait for "this event or this time" in one
  // operation.
  net::basic_waitable_timer<Clock> wake;
  net::cancellation_signal watch_stop;  // stops the client's watch
  bool watch_started = false;           // this race has started its watch
  bool watch_running = false;
  race_stats* stats = nullptr;
  hedge_tuning* tuning = nullptr;
  // Whether this race teaches the adaptive delay: only a hedged race's
  // attempt 1, which started alone, is a fair sample of the upstream.
  bool learn = false;
  // The request being answered: its id and trace, for its attempts.
  std::string request_id;
  trace::context trace;
  bool traced = false;
  std::string tracestate;
  [[nodiscard]] upstream::request_tags tags() const {
    return {request_id, traced ? &trace : nullptr, tracestate};
  }
  std::array<attempt_slot, max_attempts> slots;
  std::array<int, max_attempts> finished{};  // indices, in completion order
  int used = 0;                              // slots touched by the current race
  int finished_count = 0;
  int processed = 0;
  int running = 0;
};

template <typename Clock>
basic_race_workspace<Clock>::basic_race_workspace(const net::any_io_executor& ex)
    : state_{std::make_shared<state>(ex)} {}

template <typename Clock>
basic_race_workspace<Clock>::~basic_race_workspace() = default;

template <typename Clock>
void basic_race_workspace<Clock>::set_request(std::string_view id, const trace::context* trace,
                                              std::string_view tracestate) {
  // Within the capacity of earlier requests' strings: no allocation.
  state_->request_id.assign(id);
  state_->traced = trace != nullptr;
  if (trace != nullptr) {
    state_->trace = *trace;
  }
  state_->tracestate.assign(tracestate);
}

template <typename Clock>
bool basic_race_workspace<Clock>::busy() const {
  return state_->running > 0 || state_->watch_running || state_->processed < state_->finished_count;
}

namespace race_detail {

// One race, step by step: the timeline, what it launched and what came back.
// decide_race() drives it; every member runs on the race's executor.
template <typename Clock>
class driver {
 public:
  driver(basic_race_workspace<Clock>& ws, const policy& p, time_point start, time_point deadline,
         const attempt_fn& attempt, race_stats& m, const client_watch* watch, hedge_tuning* tuning,
         net::any_io_executor ex)
      : ws_{ws},
        st_{ws.get()},
        policy_{p},
        start_{start},
        deadline_{deadline},
        attempt_{attempt},
        stats_{m},
        watch_{watch},
        tuning_{tuning},
        ex_{std::move(ex)},
        tl_{p, start, deadline} {
    st_.reset();
    st_.stats = &m;
    st_.tuning = tuning;
    st_.learn = tuning != nullptr && p.initial_attempts == 1 && p.hedge_attempts > 0;
    if (tuning != nullptr && p.hedge_attempts > 0) {
      tuning->first_attempt(start);
    }
  }

  step begin() { return launch(tl_.begin()); }

  // When to wake up to look again: the step's wake-up time, or sooner the
  // time to start the watch; nothing when finished attempts are waiting to
  // be fed to the timeline already. (A finished attempt cancels the wait.)
  [[nodiscard]] std::optional<time_point> wake_time(const step& s) const {
    if (st_.processed < st_.finished_count) {
      return std::nullopt;
    }
    auto wake_at = s.wake_at;
    if (watch_ != nullptr && !st_.watch_started) {
      wake_at = std::min(wake_at, start_ + watch_->grace);
    }
    return wake_at;
  }

  // What happened since the last step, fed to the timeline: finished
  // attempts first (a success observed together with the deadline still
  // answers the request), then the time.
  step advance(step s) {
    const auto now = Clock::now();
    while (st_.processed < st_.finished_count && s.decided == verdict::pending) {
      const int index = st_.finished[static_cast<std::size_t>(st_.processed++)];
      if (st_.account(index, now)) {
        successes_[static_cast<std::size_t>(success_count_++)] = index;
        s = launch(tl_.on_success(index + 1, now));
      } else {
        s = launch(tl_.on_failure(index + 1, now));
      }
    }
    if (s.decided == verdict::pending && now >= s.wake_at) {
      s = launch(tl_.on_timer(now));
    }
    if (s.decided == verdict::pending && watch_ != nullptr && !st_.watch_started &&
        now >= start_ + watch_->grace) {
      start_watch();
    }
    return s;
  }

  // The race is decided (or its client left): the watch is told to stop,
  // and what still runs is a loser, counted now, so that the metrics
  // already show it when the client has its answer; finish_race() stops
  // them afterwards. Those cut by the deadline count as timeouts.
  void settle(const step& s, bool client_gone) {
    if (st_.watch_running) {
      st_.watch_stop.emit(net::cancellation_type::terminal);
    }
    const auto decided_at = Clock::now();
    const bool past_deadline = s.decided == verdict::deadline ||
                               (s.decided == verdict::collected && decided_at >= deadline_);
    for (int i = 0; i < st_.used; ++i) {
      auto& slot = st_.slots[static_cast<std::size_t>(i)];
      if (!slot.running) {
        continue;
      }
      const auto elapsed = decided_at - slot.started;
      slot.cut_by_deadline = past_deadline;
      slot.counted = true;
      stats_.attempt_finished(
          past_deadline ? upstream::outcome::timeout : upstream::outcome::cancelled, elapsed);
      // Attempt 1 cut off after the hedge delay: its latency is at least
      // that long. A cut before the delay (a short timeout, a client that
      // left) says nothing about the upstream.
      if (i == 0 && st_.learn && !client_gone && elapsed >= policy_.hedge_delay) {
        tuning_->cut_off(elapsed, decided_at);
      }
    }
  }

  race_result result(const step& s, bool client_gone) {
    out_.decided = client_gone ? verdict::pending : s.decided;
    if (out_.decided == verdict::success) {
      out_.winner = s.winner;
      out_.body = std::move(st_.slots[static_cast<std::size_t>(s.winner - 1)].result.body);
      stats_.won(s.winner);
    } else if (out_.decided == verdict::collected) {
      out_.body = "[";
      for (int i = 0; i < success_count_; ++i) {
        if (i > 0) {
          out_.body += ',';
        }
        out_.body += st_.slots[static_cast<std::size_t>(successes_[static_cast<std::size_t>(i)])]
                         .result.body;
      }
      out_.body += ']';
    }
    return std::move(out_);
  }

 private:
  // Starts what step s asks for, unless the hedge budget withholds the
  // hedges; returns the step actually taken.
  step launch(step s) {
    if (s.hedged && tuning_ != nullptr) {
      const auto now = Clock::now();
      const int granted = tuning_->grant_hedges(policy_.hedge_attempts, s.reason, now);
      if (granted < policy_.hedge_attempts) {
        s = tl_.withhold_hedges(s, now, granted);
      }
    }
    if (s.hedged) {
      stats_.hedges_fired(s.reason);
    }
    for (int n = 0; n < s.launch; ++n) {
      start_attempt(out_.attempts_started++);
    }
    return s;
  }

  void start_attempt(int index) {
    auto& slot = st_.slots[static_cast<std::size_t>(index)];
    slot.running = true;
    slot.started = Clock::now();
    st_.used = index + 1;
    ++st_.running;
    // The handler shares the state: should the request's side be torn down
    // early (an exception), a late completion still finds it.
    net::co_spawn(
        ex_, attempt_(index + 1, st_.tags(), slot.stop),
        [shared = ws_.share(), index](const std::exception_ptr& error, upstream::attempt_result r) {
          if (error) {
            r = {};
            r.result = upstream::outcome::protocol_error;
          }
          shared->complete(index, std::move(r));
        });
  }

  void start_watch() {
    st_.watch_started = true;
    st_.watch_running = true;
    net::co_spawn(ex_, watch_->start(),
                  net::bind_cancellation_slot(st_.watch_stop.slot(),
                                              [shared = ws_.share()](const std::exception_ptr&) {
                                                shared->watch_running = false;
                                                shared->wake.cancel();
                                              }));
  }

  basic_race_workspace<Clock>& ws_;
  typename basic_race_workspace<Clock>::state& st_;
  const policy& policy_;
  time_point start_;
  time_point deadline_;
  const attempt_fn& attempt_;
  race_stats& stats_;
  const client_watch* watch_;
  hedge_tuning* tuning_;
  net::any_io_executor ex_;
  timeline tl_;
  race_result out_;
  std::array<int, max_attempts> successes_{};  // attempt indices, in completion order
  int success_count_ = 0;
};

}  // namespace race_detail

template <typename Clock>
net::awaitable<race_result> decide_race(basic_race_workspace<Clock>& ws, policy p, time_point start,
                                        time_point deadline, const attempt_fn& attempt,
                                        race_stats& m, const client_watch* watch,
                                        hedge_tuning* tuning) {
  assert(p.total_attempts() <= max_attempts);
  // Cancellation (the client left) is read from the cancellation state, and
  // must not turn the awaits into exceptions.
  co_await net::this_coro::throw_if_cancelled(false);
  race_detail::driver<Clock> d{
      ws, p, start, deadline, attempt, m, watch, tuning, co_await net::this_coro::executor};
  // The race's own sleep is here, not in a coroutine of the driver's: a
  // nested coroutine would be a frame and a resumption on every wait.
  auto& wake = ws.get().wake;
  const auto cancelled = [](const net::cancellation_state& cs) {
    return cs.cancelled() != net::cancellation_type::none;
  };
  step s = d.begin();
  bool client_gone = false;
  while (s.decided == verdict::pending) {
    // Cancelled (the client left) before the wait, or during it.
    if (cancelled(co_await net::this_coro::cancellation_state)) {
      client_gone = true;
      break;
    }
    if (const auto wake_at = d.wake_time(s)) {
      wake.expires_at(*wake_at);
      co_await wake.async_wait(race_detail::use_tuple);
      if (cancelled(co_await net::this_coro::cancellation_state)) {
        client_gone = true;
        break;
      }
    }
    s = d.advance(s);
  }
  d.settle(s, client_gone);
  co_return d.result(s, client_gone);
}

template <typename Clock>
net::awaitable<void> finish_race(basic_race_workspace<Clock>& ws) {
  co_await net::this_coro::throw_if_cancelled(false);
  auto& st = ws.get();
  if (st.running > 0 || st.watch_running) {
    // Answers decided at the same moment (a burst of deadlines) go out
    // before this clean-up: it closes connections, a few system calls each.
    const auto ex = co_await net::this_coro::executor;
    co_await net::post(ex, net::use_awaitable);
    // Stopping closes each attempt's connection (see upstream::client::fetch);
    // wait until every attempt has finished, so that none outlives the request.
    for (int i = 0; i < st.used; ++i) {
      auto& slot = st.slots[static_cast<std::size_t>(i)];
      if (slot.running) {
        slot.stop.request_stop();
      }
    }
    co_await net::this_coro::reset_cancellation_state();
    while (st.running > 0 || st.watch_running) {
      st.wake.expires_at(time_point::max());
      co_await st.wake.async_wait(race_detail::use_tuple);
    }
  }
  const auto end = Clock::now();
  co_await net::this_coro::reset_cancellation_state();  // whatever ended the race is spent
  while (st.processed < st.finished_count) {
    st.account(st.finished[static_cast<std::size_t>(st.processed++)], end);
  }
}

template <typename Clock>
net::awaitable<race_result> run_race(basic_race_workspace<Clock>& ws, policy p, time_point start,
                                     time_point deadline, const attempt_fn& attempt, race_stats& m,
                                     const client_watch* watch) {
  auto result = co_await decide_race(ws, p, start, deadline, attempt, m, watch);
  co_await finish_race(ws);
  co_return result;
}

}  // namespace smart::hedge
