#include "smart/service.hpp"

#include "smart/edge/server.hpp"
#include "smart/hedge/race.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/metrics.hpp"
#include "smart/net.hpp"
#include "smart/upstream/client.hpp"

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

namespace smart {

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

namespace {

// Runs the io_context until it runs out of work. With a busy-poll window the
// thread keeps polling for that long after the last handler before it blocks,
// so that a quiet core is awake when the next packet comes (waking a sleeping
// core costs tens of microseconds on a virtual machine).
void run_loop(net::io_context& ioc, std::chrono::microseconds spin) {
  if (spin.count() == 0) {
    ioc.run();
    return;
  }
  using clock = std::chrono::steady_clock;
  auto last = clock::now();
  while (!ioc.stopped()) {
    if (ioc.poll() != 0) {
      last = clock::now();
    } else if (clock::now() - last >= spin) {
      ioc.run_one();
      last = clock::now();
    }
  }
}

}  // namespace

struct service::impl {
  explicit impl(config c)
      : cfg{std::move(c)},
        ioc{cfg.threads},
        stats{std::max(3, 1 + cfg.hedge_count)},
        upstream{ioc.get_executor(), upstream::client_options::from(cfg), stats},
        tuning{hedge::tuning_options{cfg.hedge_budget_percent, cfg.hedge_percentile,
                                     cfg.hedge_delay, cfg.hedge_delay_floor},
               stats},
        edge{ioc, cfg, stats,
             [this](int /*attempt*/, std::string_view request_id, stop_signal& stop) {
               return upstream.fetch(stop, request_id);
             },
             tuning},
        signals{net::make_strand(ioc)} {}

  config cfg;
  net::io_context ioc;
  metrics stats;
  upstream::client upstream;
  hedge::hedge_tuning tuning;
  edge::server edge;
  net::signal_set signals;
  bool handle_signals = false;  // shutdown_on_signals() was called
  bool resolved = false;        // start() is past the upstream's first resolution
  std::vector<std::thread> threads;
};

service::service(config cfg) : impl_{std::make_unique<impl>(std::move(cfg))} {}

service::~service() {
  if (!impl_->threads.empty()) {
    shutdown();
    wait();
  }
}

void service::start() {
  auto& i = *impl_;
  // Once the last request of a drain is answered, nothing may keep the
  // io_context alive: stop listening for signals.
  i.edge.on_drained([&i] {
    net::post(i.signals.get_executor(), [&i] {
      error_code ignored;
      i.signals.cancel(ignored);
      i.signals.clear(ignored);
    });
  });
  // The first resolution may block for seconds: until it is done, a signal
  // keeps its default action (and ends the process at once). From here on,
  // before the port opens, it starts the graceful shutdown.
  i.upstream.start();
  i.resolved = true;
  if (i.handle_signals) {
    install_signal_handlers();
  }
  i.edge.start();
  i.threads.reserve(static_cast<std::size_t>(i.cfg.threads));
  for (int n = 0; n < i.cfg.threads; ++n) {
    i.threads.emplace_back([&ioc = i.ioc, spin = i.cfg.busy_poll] { run_loop(ioc, spin); });
  }
}

std::uint16_t service::port() const {
  return impl_->edge.port();
}

void service::shutdown_on_signals() {
  impl_->handle_signals = true;
  if (impl_->resolved) {
    install_signal_handlers();
  }
}

void service::install_signal_handlers() {
  auto& i = *impl_;
  i.signals.add(SIGINT);
  i.signals.add(SIGTERM);
  i.signals.async_wait([this](const error_code& ec, int signal) {
    if (ec) {
      return;
    }
    spdlog::info("signal {}: shutting down gracefully (a second signal exits at once)", signal);
    // Keep listening: a second signal ends the drain at once. The wait is
    // cancelled when the drain is over (see start()).
    impl_->signals.async_wait([](const error_code& again, int) {
      if (!again) {
        spdlog::warn("second signal: exiting without finishing the requests in flight");
        spdlog::shutdown();
        std::_Exit(1);
      }
    });
    shutdown();
  });
}

void service::shutdown() {
  auto& i = *impl_;
  i.edge.shutdown();
  i.upstream.stop();
}

void service::wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) {
      t.join();
    }
  }
  impl_->threads.clear();
}

const config& service::settings() const {
  return impl_->cfg;
}

metrics& service::stats() {
  return impl_->stats;
}

std::size_t service::idle_upstream_connections() const {
  return impl_->upstream.idle_connections();
}

}  // namespace smart
