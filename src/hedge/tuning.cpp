#include "smart/hedge/tuning.hpp"

#include <algorithm>
#include <cmath>

namespace smart::hedge {

// --- hedge_budget ---------------------------------------------------------------

hedge_budget::hedge_budget(double percent, duration window, int buckets, int reserve)
    : percent_{percent},
      bucket_length_{window / buckets},
      reserve_{reserve},
      ring_(static_cast<std::size_t>(buckets)) {}

std::int64_t hedge_budget::epoch_of(time_point now) const {
  return now.time_since_epoch() / bucket_length_;
}

hedge_budget::bucket& hedge_budget::current(std::int64_t epoch) {
  auto& b = ring_[static_cast<std::size_t>(epoch % static_cast<std::int64_t>(ring_.size()))];
  if (b.epoch != epoch) {
    b = bucket{};  // the oldest bucket leaves the window
    b.epoch = epoch;
  }
  return b;
}

hedge_budget::counts hedge_budget::totals(std::int64_t epoch) const {
  counts out;
  const auto oldest = epoch - static_cast<std::int64_t>(ring_.size()) + 1;
  for (const auto& b : ring_) {
    if (b.epoch >= oldest && b.epoch <= epoch) {
      out.firsts += b.firsts;
      out.hedges += b.hedges;
      out.failures += b.failures;
    }
  }
  return out;
}

double hedge_budget::left(const counts& window) const {
  return percent_ / 100.0 * static_cast<double>(window.firsts) + reserve_ -
         static_cast<double>(window.hedges);
}

void hedge_budget::first_attempt(time_point now) {
  std::lock_guard lock{mu_};
  ++current(epoch_of(now)).firsts;
}

int hedge_budget::grant(int hedges, bool after_failure, time_point now) {
  std::lock_guard lock{mu_};
  const auto epoch = epoch_of(now);
  const auto t = totals(epoch);
  const double room = left(t);
  int granted = 0;
  if (after_failure) {
    // A failed request is lost without a retry, and one retry is most of
    // what it can get: give what is left, up to all the hedges.
    ++current(epoch).failures;
    granted = static_cast<int>(std::clamp(std::floor(room), 0.0, static_cast<double>(hedges)));
  } else {
    // A slow request still gets its answer without hedges, if later: its
    // hedges leave room for the retries of the failures to come before the
    // oldest part of the window frees more, estimated from the window's
    // failures (two buckets' worth, each retried with all the hedges).
    const double room_for_retries =
        2.0 * static_cast<double>(hedges * t.failures) / static_cast<double>(ring_.size());
    if (static_cast<double>(hedges) + room_for_retries <= room) {
      granted = hedges;
    }
  }
  current(epoch).hedges += granted;
  return granted;
}

double hedge_budget::remaining(time_point now) {
  std::lock_guard lock{mu_};
  return std::max(0.0, left(totals(epoch_of(now))));
}

// --- latency_tracker --------------------------------------------------------------

namespace {

constexpr double smallest_us = 100.0;  // bucket 0 holds everything up to 100 µs
const double growth = std::log(1.04);

std::size_t bucket_of(duration d) {
  const double us = std::chrono::duration<double, std::micro>(d).count();
  if (us <= smallest_us) {
    return 0;
  }
  const auto i = static_cast<std::size_t>(std::ceil(std::log(us / smallest_us) / growth));
  return std::min(i, latency_tracker::bucket_count - 1);
}

// The upper bound of bucket i.
duration bound_of(std::size_t i) {
  const double us = smallest_us * std::exp(growth * static_cast<double>(i));
  return std::chrono::duration_cast<duration>(std::chrono::duration<double, std::micro>(us));
}

}  // namespace

latency_tracker::latency_tracker(duration window) : half_length_{window / 2} {}

std::int64_t latency_tracker::epoch_of(time_point now) const {
  return now.time_since_epoch() / half_length_;
}

latency_tracker::half& latency_tracker::half_for(std::int64_t epoch) {
  auto& h = halves_[static_cast<std::size_t>(epoch % 2)];
  auto seen = h.epoch.load(std::memory_order_acquire);
  if (seen != epoch && seen < epoch &&
      h.epoch.compare_exchange_strong(seen, epoch, std::memory_order_acq_rel)) {
    // This half now starts over. Samples added by other threads while it is
    // cleared may be lost: a few, once per half window.
    for (auto& c : h.counts) {
      c.store(0, std::memory_order_relaxed);
    }
  }
  return h;
}

void latency_tracker::record(duration latency, time_point now) {
  half_for(epoch_of(now)).counts[bucket_of(latency)].fetch_add(1, std::memory_order_relaxed);
}

std::optional<duration> latency_tracker::percentile(double q, time_point now,
                                                    std::uint64_t min_samples) const {
  const auto epoch = epoch_of(now);
  std::array<std::uint64_t, bucket_count> merged{};
  std::uint64_t total = 0;
  for (const auto& h : halves_) {
    const auto e = h.epoch.load(std::memory_order_acquire);
    if (e != epoch && e != epoch - 1) {
      continue;  // older than the window
    }
    for (std::size_t i = 0; i < bucket_count; ++i) {
      const auto n = h.counts[i].load(std::memory_order_relaxed);
      merged[i] += n;
      total += n;
    }
  }
  if (total < min_samples || total == 0) {
    return std::nullopt;
  }
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += merged[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      return bound_of(i);
    }
  }
  return bound_of(bucket_count - 1);
}

// --- hedge_tuning ----------------------------------------------------------------------

namespace {
constexpr auto refresh_period = std::chrono::milliseconds{100};
}

hedge_tuning::hedge_tuning(tuning_options options, tuning_stats& stats)
    : options_{options},
      stats_{stats},
      delay_ns_{
          std::chrono::duration_cast<std::chrono::nanoseconds>(options.configured_delay).count()} {
  if (options_.budget_percent > 0) {
    budget_.emplace(options_.budget_percent);
  }
  stats_.hedge_delay(options_.configured_delay);
}

duration hedge_tuning::delay(time_point now) {
  if (!adaptive()) {
    return options_.configured_delay;
  }
  const auto ticks = now.time_since_epoch().count();
  auto last = refreshed_at_.load(std::memory_order_relaxed);
  if (ticks - last >= std::chrono::duration_cast<duration>(refresh_period).count() &&
      refreshed_at_.compare_exchange_strong(last, ticks, std::memory_order_relaxed)) {
    // One thread at a time recomputes; the others use the cached delay.
    auto d = options_.configured_delay;
    if (const auto p = latencies_.percentile(options_.percentile / 100.0, now)) {
      d = std::clamp(*p, std::min(options_.floor, options_.configured_delay),
                     options_.configured_delay);
    }
    delay_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                    std::memory_order_relaxed);
    stats_.hedge_delay(d);
  }
  return std::chrono::nanoseconds{delay_ns_.load(std::memory_order_relaxed)};
}

void hedge_tuning::first_attempt(time_point now) {
  if (budget_) {
    budget_->first_attempt(now);
  }
}

int hedge_tuning::grant_hedges(int hedges, hedge_reason why, time_point now) {
  if (!budget_) {
    return hedges;
  }
  const int granted = budget_->grant(hedges, why == hedge_reason::failure, now);
  stats_.hedge_budget_remaining(budget_->remaining(now));
  if (granted < hedges) {
    stats_.hedges_suppressed(hedges - granted);
  }
  return granted;
}

void hedge_tuning::succeeded(duration latency, time_point now) {
  if (adaptive()) {
    latencies_.record(latency, now);
  }
}

void hedge_tuning::cut_off(duration elapsed, time_point now) {
  if (adaptive()) {
    latencies_.record(elapsed, now);
  }
}

}  // namespace smart::hedge
