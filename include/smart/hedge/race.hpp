#pragma once
// The race: runs one request's upstream attempts on the current executor as
// the timeline (timeline.hpp) directs, and cancels the losers. This is the
// only place where attempts are started, awaited and cancelled.

#include "smart/clock.hpp"
#include "smart/hedge/timeline.hpp"
#include "smart/upstream/outcome.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <stop_token>
#include <string>

namespace smart {
class metrics;
}

namespace smart::hedge {

// Starts attempt number n (1-based) and yields its result. A stop request on
// `stop` (made on the race's executor) must end the attempt promptly, at any
// step: upstream::client::fetch closes its connection.
using attempt_fn =
    std::function<boost::asio::awaitable<upstream::attempt_result>(int n, std::stop_token stop)>;

// Attempts are numbered 1..max_attempts.
inline constexpr int max_attempts = 9;

struct race_result {
  verdict decided = verdict::pending;  // pending: cancelled before a verdict (client gone)
  int attempts_started = 0;
  int winner = 0;       // 1-based, for verdict::success
  std::string body;     // success: the winner's body as received;
                        // collected: a JSON array of the successful bodies, in completion order
};

// Lets the caller end a race early, from a completion handler on the race's
// executor (the client went away). No locking: use it on that executor only.
class race_abort {
 public:
  // Ends the race with verdict::pending; its attempts are stopped as usual.
  void abort() {
    aborted_ = true;
    if (wake_ != nullptr) {
      wake_(race_);
    }
  }
  [[nodiscard]] bool aborted() const { return aborted_; }

  // Set by run_race while it runs.
  void attach(void (*wake)(void*), void* race) {
    wake_ = wake;
    race_ = race;
  }

 private:
  bool aborted_ = false;
  void (*wake_)(void*) = nullptr;
  void* race_ = nullptr;
};

// Runs until a verdict; then stops every outstanding attempt and waits for
// them to finish, so that nothing outlives the call. `abort` (or terminal
// cancellation of the awaiting coroutine) ends the race the same way, with
// verdict::pending. Call on a strand: attempts run on the caller's executor.
boost::asio::awaitable<race_result> run_race(policy p, time_point start, time_point deadline,
                                             const attempt_fn& attempt, metrics& m,
                                             race_abort* abort = nullptr);

}  // namespace smart::hedge
