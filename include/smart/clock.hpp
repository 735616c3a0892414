#pragma once
// Time as the service sees it: one monotonic clock for deadlines and durations.

#include <chrono>

namespace smart {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;
using std::chrono::milliseconds;

}  // namespace smart
