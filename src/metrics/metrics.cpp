#include "smart/metrics.hpp"

#include "smart/build_info.hpp"

#include "latency_histogram.hpp"
#include "process_stats.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace smart {

namespace {

using metrics_detail::latency_histogram;
using metrics_detail::process_start_time;
using metrics_detail::read_process_stats;

// Every status the service answers with has its own series; anything else
// would be a bug, counted under "other" rather than lost.
// 304: a document the client has already (If-None-Match). 499 is nginx's
// "client closed request": the client left before the answer.
constexpr std::array<unsigned, 13> known_codes = {200, 304, 400, 404, 405, 413, 414,
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

prometheus::MetricFamily single(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return {std::move(name), std::move(help), type, {metric}};
}

}  // namespace

struct metrics::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  double start_time = process_start_time();

  std::vector<std::array<prometheus::Counter*, known_codes.size() + 1>> requests;  // [route][code]
  std::array<latency_histogram, edge::all_routes.size()> request_duration;         // [route]
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Gauge* connections_open = nullptr;
  prometheus::Counter* connections_rejected = nullptr;

  std::vector<prometheus::Counter*> attempts;                                     // [outcome]
  std::array<latency_histogram, upstream::all_outcomes.size()> attempt_duration;  // [outcome]
  std::array<prometheus::Counter*, 2> hedges{};                                   // [reason]
  std::vector<prometheus::Counter*> wins;                                         // [attempt - 1]
  prometheus::Counter* hedges_suppressed = nullptr;
  prometheus::Gauge* hedge_budget_remaining = nullptr;
  prometheus::Gauge* hedge_delay = nullptr;
  std::array<prometheus::Counter*, 2> connections_opened{};  // [http1, http2]
  prometheus::Gauge* streams_in_use = nullptr;
  prometheus::Counter* streams_reset = nullptr;
  prometheus::Counter* goaways = nullptr;
  prometheus::Gauge* connections_in_use = nullptr;
  std::array<prometheus::Counter*, 2> tls_handshakes{};  // [full, resumed]

  // The last rendering of the exposition (see exposition()).
  std::mutex cache_mu;
  std::shared_ptr<const std::string> cached;  // guarded by cache_mu
  time_point cached_at{};                     // when its rendering started
  bool rendering = false;                     // a rendering is under way
};

metrics::metrics(int max_attempts) : impl_{std::make_unique<impl>()} {
  auto& reg = *impl_->registry;

  auto& requests = prometheus::BuildCounter()
                       .Name("smart_http_requests_total")
                       .Help("HTTP requests answered, by route and status code.")
                       .Register(reg);
  for (const auto r : edge::all_routes) {
    const std::string route{edge::path_of(r)};
    auto& row = impl_->requests.emplace_back();
    for (std::size_t i = 0; i < known_codes.size(); ++i) {
      row[i] = &requests.Add({{"route", route}, {"code", std::to_string(known_codes[i])}});
    }
    row[other_code] = &requests.Add({{"route", route}, {"code", "other"}});
  }
  impl_->in_flight = &prometheus::BuildGauge()
                          .Name("smart_http_requests_in_flight")
                          .Help("HTTP requests being processed.")
                          .Register(reg)
                          .Add({});

  impl_->connections_open = &prometheus::BuildGauge()
                                 .Name("smart_http_connections_open")
                                 .Help("Client connections open.")
                                 .Register(reg)
                                 .Add({});
  impl_->connections_rejected = &prometheus::BuildCounter()
                                     .Name("smart_http_connections_rejected_total")
                                     .Help("Client connections refused past --max-connections.")
                                     .Register(reg)
                                     .Add({});

  auto& attempts = prometheus::BuildCounter()
                       .Name("smart_upstream_attempts_total")
                       .Help("Upstream attempts finished, by outcome.")
                       .Register(reg);
  for (const auto o : upstream::all_outcomes) {
    const std::string label{upstream::to_string(o)};
    impl_->attempts.push_back(&attempts.Add({{"outcome", label}}));
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

  impl_->hedges_suppressed =
      &prometheus::BuildCounter()
           .Name("smart_hedges_suppressed_total")
           .Help("Hedge attempts withheld because the hedge budget was spent.")
           .Register(reg)
           .Add({});
  impl_->hedge_budget_remaining = &prometheus::BuildGauge()
                                       .Name("smart_hedge_budget_remaining")
                                       .Help(
                                           "Hedge attempts the budget still allows in its "
                                           "window (when --hedge-budget-percent is set).")
                                       .Register(reg)
                                       .Add({});
  impl_->hedge_delay = &prometheus::BuildGauge()
                            .Name("smart_hedge_delay_seconds")
                            .Help("The hedge delay in use (adaptive with --hedge-percentile).")
                            .Register(reg)
                            .Add({});

  auto& opened = prometheus::BuildCounter()
                     .Name("smart_upstream_connections_opened_total")
                     .Help("Upstream connections opened, by protocol (http/1.1 or h2).")
                     .Register(reg);
  impl_->connections_opened = {&opened.Add({{"protocol", "http/1.1"}}),
                               &opened.Add({{"protocol", "h2"}})};
  impl_->streams_in_use = &prometheus::BuildGauge()
                               .Name("smart_upstream_streams_in_use")
                               .Help("HTTP/2 streams carrying upstream attempts.")
                               .Register(reg)
                               .Add({});
  impl_->streams_reset = &prometheus::BuildCounter()
                              .Name("smart_upstream_streams_reset_total")
                              .Help("HTTP/2 streams reset (RST_STREAM CANCEL) to cancel attempts.")
                              .Register(reg)
                              .Add({});
  impl_->goaways = &prometheus::BuildCounter()
                        .Name("smart_upstream_goaways_received_total")
                        .Help("HTTP/2 GOAWAY frames received from the upstream.")
                        .Register(reg)
                        .Add({});
  impl_->connections_in_use = &prometheus::BuildGauge()
                                   .Name("smart_upstream_connections_in_use")
                                   .Help("Upstream connections leased to attempts.")
                                   .Register(reg)
                                   .Add({});
  auto& handshakes = prometheus::BuildCounter()
                         .Name("smart_upstream_tls_handshakes_total")
                         .Help("TLS handshakes with the upstream: in full, or resumed.")
                         .Register(reg);
  impl_->tls_handshakes = {&handshakes.Add({{"kind", "full"}}),
                           &handshakes.Add({{"kind", "resumed"}})};

  prometheus::BuildGauge()
      .Name("smart_build_info")
      .Help("Build information; the value is always 1.")
      .Register(reg)
      .Add({{"version", std::string{build_info::version()}},
            {"revision", std::string{build_info::revision()}}})
      .Set(1);
}

metrics::~metrics() = default;

void metrics::request_started() {
  impl_->in_flight->Increment();
}

void metrics::request_finished(edge::route r, unsigned status, duration elapsed) {
  const auto route = static_cast<std::size_t>(r);
  impl_->in_flight->Decrement();
  impl_->requests[route][code_index(status)]->Increment();
  impl_->request_duration[route].observe(elapsed);
}

void metrics::connection_opened() {
  impl_->connections_open->Increment();
}

void metrics::connection_closed() {
  impl_->connections_open->Decrement();
}

void metrics::connection_rejected() {
  impl_->connections_rejected->Increment();
}

void metrics::attempt_finished(upstream::outcome o, duration elapsed) {
  const auto i = static_cast<std::size_t>(o);
  impl_->attempts[i]->Increment();
  impl_->attempt_duration[i].observe(elapsed);
}

void metrics::upstream_connection_opened(upstream::protocol p) {
  impl_->connections_opened[p == upstream::protocol::http2 ? 1 : 0]->Increment();
}

void metrics::upstream_streams_in_use(int delta) {
  impl_->streams_in_use->Increment(static_cast<double>(delta));
}

void metrics::upstream_stream_reset() {
  impl_->streams_reset->Increment();
}

void metrics::upstream_goaway_received() {
  impl_->goaways->Increment();
}

void metrics::upstream_connections_in_use(int delta) {
  impl_->connections_in_use->Increment(static_cast<double>(delta));
}

void metrics::upstream_tls_handshake(bool resumed) {
  impl_->tls_handshakes[resumed ? 1 : 0]->Increment();
}

void metrics::hedges_fired(hedge::hedge_reason why) {
  impl_->hedges[why == hedge::hedge_reason::delay ? 0 : 1]->Increment();
}

void metrics::hedges_suppressed(int attempts) {
  impl_->hedges_suppressed->Increment(attempts);
}

void metrics::hedge_budget_remaining(double attempts) {
  impl_->hedge_budget_remaining->Set(attempts);
}

void metrics::hedge_delay(duration d) {
  impl_->hedge_delay->Set(std::chrono::duration<double>(d).count());
}

void metrics::won(int attempt) {
  if (attempt >= 1 && static_cast<std::size_t>(attempt) <= impl_->wins.size()) {
    impl_->wins[static_cast<std::size_t>(attempt) - 1]->Increment();
  }
}

std::shared_ptr<const std::string> metrics::exposition(std::chrono::milliseconds max_age) const {
  auto& i = *impl_;
  const auto now = clock::now();
  {
    std::lock_guard lock{i.cache_mu};
    // Fresh enough, or being rendered anew by another scrape right now (which
    // would only cost a second rendering of the same values).
    if (i.cached && (now - i.cached_at < max_age || i.rendering)) {
      return i.cached;
    }
    i.rendering = true;
  }
  std::shared_ptr<const std::string> text;
  try {
    text = std::make_shared<const std::string>(render());
  } catch (...) {
    std::lock_guard lock{i.cache_mu};
    i.rendering = false;
    throw;
  }
  std::lock_guard lock{i.cache_mu};
  i.rendering = false;
  if (max_age.count() > 0) {
    i.cached = text;
    i.cached_at = now;
  }
  return text;
}

std::string metrics::render() const {
  auto families = impl_->registry->Collect();
  using prometheus::MetricType;
  prometheus::MetricFamily requests{"smart_http_request_duration_seconds",
                                    "Time from a request being read to its response, by route.",
                                    MetricType::Histogram,
                                    {}};
  for (const auto r : edge::all_routes) {
    requests.metric.push_back(impl_->request_duration[static_cast<std::size_t>(r)].collect(
        "route", std::string{edge::path_of(r)}));
  }
  families.push_back(std::move(requests));
  prometheus::MetricFamily attempts{"smart_upstream_attempt_duration_seconds",
                                    "Duration of upstream attempts, by outcome.",
                                    MetricType::Histogram,
                                    {}};
  for (const auto o : upstream::all_outcomes) {
    attempts.metric.push_back(impl_->attempt_duration[static_cast<std::size_t>(o)].collect(
        "outcome", std::string{upstream::to_string(o)}));
  }
  families.push_back(std::move(attempts));
  const auto p = read_process_stats();
  families.push_back(single("process_start_time_seconds",
                            "Start time of the process since the Unix epoch, in seconds.",
                            MetricType::Gauge, impl_->start_time));
  families.push_back(single("process_cpu_seconds_total",
                            "User and system CPU time spent, in seconds.", MetricType::Counter,
                            p.cpu_seconds));
  families.push_back(single("process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::Gauge, p.resident_bytes));
  families.push_back(
      single("process_open_fds", "Open file descriptors.", MetricType::Gauge, p.open_fds));
  families.push_back(
      single("process_max_fds", "Limit of open file descriptors.", MetricType::Gauge, p.max_fds));
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

}  // namespace smart
