#include "smart/hedge/race.hpp"

#include "smart/hedge/tuning.hpp"

#include "smart/net.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <exception>

namespace smart::hedge {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace

// Shared by the driver and the attempts' completion handlers. Everything runs
// on the workspace's executor (a strand), so no locking: a completion handler
// records its result and cancels the wake-up timer to resume the driver.
struct race_workspace::state {
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

  net::steady_timer wake;
  race_stats* stats = nullptr;
  hedge_tuning* tuning = nullptr;
  // Whether this race teaches the adaptive delay: only a hedged race's
  // attempt 1, which started alone, is a fair sample of the upstream.
  bool learn = false;
  std::string request_id;  // of the request being answered
  std::array<attempt_slot, max_attempts> slots;
  std::array<int, max_attempts> finished{};  // indices, in completion order
  int used = 0;                              // slots touched by the current race
  int finished_count = 0;
  int processed = 0;
  int running = 0;
};

race_workspace::race_workspace(const net::any_io_executor& ex)
    : state_{std::make_shared<state>(ex)} {}

race_workspace::~race_workspace() = default;

void race_workspace::set_request_id(std::string_view id) {
  state_->request_id.assign(id);  // within the capacity of earlier ids, no allocation
}

bool race_workspace::busy() const {
  return state_->running > 0 || state_->processed < state_->finished_count;
}

net::awaitable<race_result> decide_race(race_workspace& ws, policy p, time_point start,
                                        time_point deadline, const attempt_fn& attempt,
                                        race_stats& m, race_abort* abort, hedge_tuning* tuning) {
  assert(p.total_attempts() <= max_attempts);
  // Cancellation (the client left) is observed on the wake-up wait below and
  // must not turn the awaits into exceptions.
  co_await net::this_coro::throw_if_cancelled(false);
  const auto ex = co_await net::this_coro::executor;

  auto& st = ws.get();
  st.reset();
  st.stats = &m;
  st.tuning = tuning;
  st.learn = tuning != nullptr && p.initial_attempts == 1 && p.hedge_attempts > 0;
  if (tuning != nullptr && p.hedge_attempts > 0) {
    tuning->first_attempt(start);
  }
  timeline tl{p, start, deadline};
  race_result out;
  std::array<int, max_attempts> successes{};  // attempt indices, in completion order
  int success_count = 0;

  // Starts what step s asks for, unless the hedge budget withholds the
  // hedges; returns the step actually taken.
  auto launch = [&](step s) -> step {
    if (s.hedged && tuning != nullptr) {
      const auto now = clock::now();
      const int granted = tuning->grant_hedges(p.hedge_attempts, s.reason, now);
      if (granted < p.hedge_attempts) {
        s = tl.withhold_hedges(s, now, granted);
      }
    }
    if (s.hedged) {
      m.hedges_fired(s.reason);
    }
    for (int n = 0; n < s.launch; ++n) {
      const int index = out.attempts_started++;
      auto& slot = st.slots[static_cast<std::size_t>(index)];
      slot.running = true;
      slot.started = clock::now();
      st.used = index + 1;
      ++st.running;
      // The handler shares the state: should the request's side be torn
      // down early (an exception), a late completion still finds it.
      net::co_spawn(ex, attempt(index + 1, st.request_id, slot.stop),
                    [shared = ws.share(), index](const std::exception_ptr& error,
                                                 upstream::attempt_result r) {
                      if (error) {
                        r = {};
                        r.result = upstream::outcome::protocol_error;
                      }
                      shared->complete(index, std::move(r));
                    });
    }
    return s;
  };

  // An abort wakes the driver like a finished attempt does.
  struct detach {
    explicit detach(race_abort* x) : a{x} {}
    race_abort* a;
    detach(const detach&) = delete;
    detach& operator=(const detach&) = delete;
    ~detach() {
      if (a != nullptr) {
        a->attach(nullptr, nullptr);
      }
    }
  } detach_on_exit{abort};
  if (abort != nullptr) {
    abort->attach([](void* timer) { static_cast<net::steady_timer*>(timer)->cancel(); }, &st.wake);
  }
  step s = launch(tl.begin());
  bool client_gone = abort != nullptr && abort->aborted();
  while (s.decided == verdict::pending && !client_gone) {
    if (st.processed == st.finished_count) {
      auto wake_at = s.wake_at;
      if (abort != nullptr && !abort->watching()) {
        const auto watch_at = start + abort->grace();
        if (clock::now() >= watch_at) {
          abort->start_watching();
          if (abort->aborted()) {
            client_gone = true;
            break;
          }
        } else {
          wake_at = std::min(wake_at, watch_at);
        }
      }
      st.wake.expires_at(wake_at);
      co_await st.wake.async_wait(use_tuple);
      const auto cs = co_await net::this_coro::cancellation_state;
      if ((abort != nullptr && abort->aborted()) ||
          cs.cancelled() != net::cancellation_type::none) {
        client_gone = true;
        break;
      }
    }
    const auto now = clock::now();
    // Finished attempts first: a success observed together with the deadline
    // still answers the request.
    while (st.processed < st.finished_count && s.decided == verdict::pending) {
      const int index = st.finished[static_cast<std::size_t>(st.processed++)];
      if (st.account(index, now)) {
        successes[static_cast<std::size_t>(success_count++)] = index;
        s = launch(tl.on_success(index + 1, now));
      } else {
        s = launch(tl.on_failure(index + 1, now));
      }
    }
    if (s.decided == verdict::pending && now >= s.wake_at) {
      s = launch(tl.on_timer(now));
    }
    if (abort != nullptr && !abort->watching() && now >= start + abort->grace()) {
      abort->start_watching();
    }
    client_gone = client_gone || (abort != nullptr && abort->aborted());
  }

  // What still runs is a loser; those cut by the deadline count as timeouts.
  // They are counted now, so that the metrics already show them when the
  // client has its answer; finish_race() stops them afterwards.
  const auto decided_at = clock::now();
  const bool past_deadline =
      s.decided == verdict::deadline || (s.decided == verdict::collected && decided_at >= deadline);
  for (int i = 0; i < st.used; ++i) {
    auto& slot = st.slots[static_cast<std::size_t>(i)];
    if (slot.running) {
      slot.cut_by_deadline = past_deadline;
      slot.counted = true;
      m.attempt_finished(past_deadline ? upstream::outcome::timeout : upstream::outcome::cancelled,
                         decided_at - slot.started);
      // Attempt 1 cut off after the hedge delay: its latency is at least
      // that long. A cut before the delay (a short timeout, a client that
      // left) says nothing about the upstream.
      const auto elapsed = decided_at - slot.started;
      if (i == 0 && st.learn && !client_gone && elapsed >= p.hedge_delay) {
        tuning->cut_off(elapsed, decided_at);
      }
    }
  }

  out.decided = client_gone ? verdict::pending : s.decided;
  if (out.decided == verdict::success) {
    out.winner = s.winner;
    out.body = std::move(st.slots[static_cast<std::size_t>(s.winner - 1)].result.body);
    m.won(s.winner);
  } else if (out.decided == verdict::collected) {
    out.body = "[";
    for (int i = 0; i < success_count; ++i) {
      if (i > 0) {
        out.body += ',';
      }
      out.body +=
          st.slots[static_cast<std::size_t>(successes[static_cast<std::size_t>(i)])].result.body;
    }
    out.body += ']';
  }
  co_return out;
}

net::awaitable<void> finish_race(race_workspace& ws) {
  co_await net::this_coro::throw_if_cancelled(false);
  auto& st = ws.get();
  if (st.running > 0) {
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
    while (st.running > 0) {
      st.wake.expires_at(time_point::max());
      co_await st.wake.async_wait(use_tuple);
    }
  }
  const auto end = clock::now();
  while (st.processed < st.finished_count) {
    st.account(st.finished[static_cast<std::size_t>(st.processed++)], end);
  }
}

net::awaitable<race_result> run_race(race_workspace& ws, policy p, time_point start,
                                     time_point deadline, const attempt_fn& attempt, race_stats& m,
                                     race_abort* abort) {
  auto result = co_await decide_race(ws, p, start, deadline, attempt, m, abort);
  co_await finish_race(ws);
  co_return result;
}

}  // namespace smart::hedge
