#include "smart/metrics.hpp"

#include "smart/build_info.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

namespace smart {

namespace {

// Every status the service answers with has its own series; anything else
// would be a bug, counted under "other" rather than lost.
// 499 is nginx's "client closed request": the client left before the answer.
constexpr std::array<unsigned, 12> known_codes = {200, 400, 404, 405, 413, 414,
                                                  431, 499, 500, 502, 503, 504};
constexpr std::size_t other_code = known_codes.size();

std::size_t code_index(unsigned status) {
  for (std::size_t i = 0; i < known_codes.size(); ++i) {
    if (known_codes[i] == status) {
      return i;
    }
  }
  return other_code;
}

// 1 ms to 60 s, dense around the 100-600 ms of the upstream and the 300 ms
// hedge delay.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2,  0.25, 0.3, 0.35,
      0.4,   0.45,   0.5,   0.6,  0.75,  1.0,  1.5, 2.0,  2.5,  5.0,  10.0, 20.0,
      30.0,  60.0};
}

double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct metrics::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  std::vector<std::array<prometheus::Counter*, known_codes.size() + 1>> requests;  // [route][code]
  std::vector<prometheus::Histogram*> request_duration;                            // [route]
  prometheus::Gauge* in_flight = nullptr;

  std::vector<prometheus::Counter*> attempts;               // [outcome]
  std::vector<prometheus::Histogram*> attempt_duration;     // [outcome]
  std::array<prometheus::Counter*, 2> hedges{};             // [reason]
  std::vector<prometheus::Counter*> wins;                   // [attempt - 1]
  prometheus::Counter* connections_opened = nullptr;
  prometheus::Gauge* connections_in_use = nullptr;
};

metrics::metrics(int max_attempts) : impl_{std::make_unique<impl>()} {
  auto& reg = *impl_->registry;

  auto& requests = prometheus::BuildCounter()
                       .Name("smart_http_requests_total")
                       .Help("HTTP requests answered, by route and status code.")
                       .Register(reg);
  auto& request_duration = prometheus::BuildHistogram()
                               .Name("smart_http_request_duration_seconds")
                               .Help("Time from a request being read to its response, by route.")
                               .Register(reg);
  for (const auto r : edge::all_routes) {
    const std::string route{edge::path_of(r)};
    auto& row = impl_->requests.emplace_back();
    for (std::size_t i = 0; i < known_codes.size(); ++i) {
      row[i] = &requests.Add({{"route", route}, {"code", std::to_string(known_codes[i])}});
    }
    row[other_code] = &requests.Add({{"route", route}, {"code", "other"}});
    impl_->request_duration.push_back(
        &request_duration.Add({{"route", route}}, latency_buckets()));
  }
  impl_->in_flight = &prometheus::BuildGauge()
                          .Name("smart_http_requests_in_flight")
                          .Help("HTTP requests being processed.")
                          .Register(reg)
                          .Add({});

  auto& attempts = prometheus::BuildCounter()
                       .Name("smart_upstream_attempts_total")
                       .Help("Upstream attempts finished, by outcome.")
                       .Register(reg);
  auto& attempt_duration = prometheus::BuildHistogram()
                               .Name("smart_upstream_attempt_duration_seconds")
                               .Help("Duration of upstream attempts, by outcome.")
                               .Register(reg);
  for (const auto o : upstream::all_outcomes) {
    const std::string label{upstream::to_string(o)};
    impl_->attempts.push_back(&attempts.Add({{"outcome", label}}));
    impl_->attempt_duration.push_back(
        &attempt_duration.Add({{"outcome", label}}, latency_buckets()));
  }

  auto& hedges = prometheus::BuildCounter()
                     .Name("smart_hedges_total")
                     .Help("Times the hedge attempts were fired, by reason.")
                     .Register(reg);
  impl_->hedges[0] = &hedges.Add({{"reason", "delay"}});
  impl_->hedges[1] = &hedges.Add({{"reason", "failure"}});

  auto& wins = prometheus::BuildCounter()
                   .Name("smart_hedge_wins_total")
                   .Help("Requests answered by a successful attempt, by attempt number.")
                   .Register(reg);
  for (int a = 1; a <= max_attempts; ++a) {
    impl_->wins.push_back(&wins.Add({{"attempt", std::to_string(a)}}));
  }

  impl_->connections_opened = &prometheus::BuildCounter()
                                   .Name("smart_upstream_connections_opened_total")
                                   .Help("Upstream connections opened.")
                                   .Register(reg)
                                   .Add({});
  impl_->connections_in_use = &prometheus::BuildGauge()
                                   .Name("smart_upstream_connections_in_use")
                                   .Help("Upstream connections leased to attempts.")
                                   .Register(reg)
                                   .Add({});

  prometheus::BuildGauge()
      .Name("smart_build_info")
      .Help("Build information; the value is always 1.")
      .Register(reg)
      .Add({{"version", std::string{build_info::version()}},
            {"revision", std::string{build_info::revision()}}})
      .Set(1);
}

metrics::~metrics() = default;

void metrics::request_started() { impl_->in_flight->Increment(); }

void metrics::request_finished(edge::route r, unsigned status, duration elapsed) {
  const auto route = static_cast<std::size_t>(r);
  impl_->in_flight->Decrement();
  impl_->requests[route][code_index(status)]->Increment();
  impl_->request_duration[route]->Observe(seconds(elapsed));
}

void metrics::attempt_finished(upstream::outcome o, duration elapsed) {
  const auto i = static_cast<std::size_t>(o);
  impl_->attempts[i]->Increment();
  impl_->attempt_duration[i]->Observe(seconds(elapsed));
}

void metrics::upstream_connection_opened() { impl_->connections_opened->Increment(); }

void metrics::upstream_connections_in_use(int delta) {
  impl_->connections_in_use->Increment(static_cast<double>(delta));
}

void metrics::hedges_fired(hedge::hedge_reason why) {
  impl_->hedges[why == hedge::hedge_reason::delay ? 0 : 1]->Increment();
}

void metrics::won(int attempt) {
  if (attempt >= 1 && static_cast<std::size_t>(attempt) <= impl_->wins.size()) {
    impl_->wins[static_cast<std::size_t>(attempt) - 1]->Increment();
  }
}

std::string metrics::render() const {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, impl_->registry->Collect());
  return out.str();
}

}  // namespace smart
