#pragma once
// A clock that moves only when a test says so, for code that is a template on
// its clock (hedge/race_impl.hpp): its now(), and the Asio timers that use it
// (basic_waitable_timer<simulated_clock>), advance with advance(). A test
// runs what is ready (io_context::poll()), steps the clock, and so on: the
// same events at the same simulated times on every run, however loaded the
// machine. One thread only.

#include "smart/clock.hpp"

#include <boost/asio/wait_traits.hpp>

#include <chrono>

namespace smart::testing {

struct simulated_clock {
  using duration = smart::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = smart::time_point;  // the service's time, so the policy takes it as is
  static constexpr bool is_steady = true;

  static time_point now() noexcept { return now_; }
  static void advance(duration d) { now_ += d; }

 private:
  inline static time_point now_ = time_point{} + std::chrono::hours{1};
};

}  // namespace smart::testing

// Asio arms its timers' kernel timer with the real time left until their
// expiry; on simulated time that would be meaningless. Zero makes every
// poll() look at the timers again, against the simulated now().
template <>
struct boost::asio::wait_traits<smart::testing::simulated_clock> {
  using clock = smart::testing::simulated_clock;
  static clock::duration to_wait_duration(const clock::duration& /*d*/) {
    return clock::duration::zero();
  }
  static clock::duration to_wait_duration(const clock::time_point& /*t*/) {
    return clock::duration::zero();
  }
};
