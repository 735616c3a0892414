#pragma once
// The race: runs one request's upstream attempts on the current executor as
// the timeline (timeline.hpp) directs, and cancels the losers. This is the
// only place where attempts are started, awaited and cancelled.

#include "smart/clock.hpp"
#include "smart/hedge/timeline.hpp"
#include "smart/stop.hpp"
#include "smart/upstream/outcome.hpp"
#include "smart/upstream/request_tags.hpp"

#include <boost/asio/awaitable.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace smart::hedge {

class hedge_tuning;

// What a race reports. The service's metrics implement it; tests may count
// with a fake. Called on the race's executor; thread-safe implementations.
class race_stats {
 public:
  virtual void attempt_finished(upstream::outcome o, duration elapsed) = 0;
  virtual void hedges_fired(hedge_reason why) = 0;
  virtual void won(int attempt) = 0;  // 1-based

 protected:
  race_stats() = default;
  ~race_stats() = default;
  race_stats(const race_stats&) = default;
  race_stats& operator=(const race_stats&) = default;
};

// Starts attempt number n (1-based) of the request that `tags` describe (its
// id and trace, which stay valid while the attempt runs) and yields its
// result. A stop request on `stop` (made on the race's executor, which
// outlives the attempt) must end the attempt promptly, at any step:
// upstream::client::fetch closes its connection.
using attempt_fn = std::function<boost::asio::awaitable<upstream::attempt_result>(
    int n, upstream::request_tags tags, stop_signal& stop)>;

// Attempts are numbered 1..max_attempts.
inline constexpr int max_attempts = 9;

struct race_result {
  verdict decided = verdict::pending;  // pending: cancelled before a verdict (client gone)
  int attempts_started = 0;
  int winner = 0;    // 1-based, for verdict::success
  std::string body;  // success: the winner's body as received;
                     // collected: a JSON array of the successful bodies, in completion order
};

// The client's watch, an arm of the race (the edge gives one). Started once
// the race has lasted `grace` (most answers come sooner, and then watching
// would be pure cost), it runs on the race's executor until the race is
// decided, when it is cancelled (terminal; it must end promptly), and
// finish_race() waits for it as for the attempts. To end the race early (the
// client left) it cancels the coroutine that awaits decide_race(): Asio's
// terminal cancellation, the one way a race is ended before its verdict.
struct client_watch {
  std::function<boost::asio::awaitable<void>()> start;
  duration grace{};
};

// What a race needs besides its coroutine frame (a wake-up timer, a slot per
// attempt), made once per executor (per client connection) and reused by one
// race after another, so that a race allocates next to nothing. `Clock` is
// the race's time (its now() and its timer): the service's clock, or in tests
// a simulated one (hedge/race_impl.hpp), so that a race replays exactly.
template <typename Clock>
class basic_race_workspace {
 public:
  explicit basic_race_workspace(const boost::asio::any_io_executor& ex);
  ~basic_race_workspace();
  basic_race_workspace(const basic_race_workspace&) = delete;
  basic_race_workspace& operator=(const basic_race_workspace&) = delete;

  struct state;
  state& get() { return *state_; }
  std::shared_ptr<state> share() const { return state_; }
  // Whether attempts (or the watch) of the last race still run:
  // finish_race() has work.
  [[nodiscard]] bool busy() const;
  // The id and trace of the request that the next race answers, passed to
  // each of its attempts (kept here, where they outlive them): `trace` null
  // for none, `tracestate` as trace::valid_tracestate() passed it. Set before
  // decide_race().
  void set_request(std::string_view id, const trace::context* trace = nullptr,
                   std::string_view tracestate = {});

 private:
  std::shared_ptr<state> state_;
};

using race_workspace = basic_race_workspace<clock>;

// Runs until a verdict and returns it; attempts still running (the losers)
// are left to finish_race(), so that the caller can send its answer first.
// A terminal cancellation of the awaiting coroutine ends the race with
// verdict::pending (the client left). `watch`, when given, is started as
// client_watch says. Call on the workspace's executor (a strand): the
// attempts run on it too. One race at a time per workspace, and every
// decide_race() must be followed by finish_race() on the same workspace.
// `tuning`, when given, may withhold hedges (the hedge budget) and learns the
// latency of first attempts (the adaptive delay).
template <typename Clock>
boost::asio::awaitable<race_result> decide_race(basic_race_workspace<Clock>& ws, policy p,
                                                time_point start, time_point deadline,
                                                const attempt_fn& attempt, race_stats& m,
                                                const client_watch* watch = nullptr,
                                                hedge_tuning* tuning = nullptr);

// Stops every attempt still running (each closes its connection) and waits
// until all have finished, and the client's watch too, so that nothing
// outlives the request.
template <typename Clock>
boost::asio::awaitable<void> finish_race(basic_race_workspace<Clock>& ws);

// decide_race() then finish_race().
template <typename Clock>
boost::asio::awaitable<race_result> run_race(basic_race_workspace<Clock>& ws, policy p,
                                             time_point start, time_point deadline,
                                             const attempt_fn& attempt, race_stats& m,
                                             const client_watch* watch = nullptr);

// The service's races: compiled once, in race.cpp.
extern template class basic_race_workspace<clock>;
extern template boost::asio::awaitable<race_result> decide_race<clock>(
    race_workspace&, policy, time_point, time_point, const attempt_fn&, race_stats&,
    const client_watch*, hedge_tuning*);
extern template boost::asio::awaitable<void> finish_race<clock>(race_workspace&);
extern template boost::asio::awaitable<race_result> run_race<clock>(race_workspace&, policy,
                                                                    time_point, time_point,
                                                                    const attempt_fn&, race_stats&,
                                                                    const client_watch*);

}  // namespace smart::hedge
