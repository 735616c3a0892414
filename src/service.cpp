#include "smart/service.hpp"

#include "smart/edge/server.hpp"
#include "smart/hedge/race.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/logging.hpp"
#include "smart/metrics.hpp"
#include "smart/net.hpp"
#include "smart/upstream/client.hpp"

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
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

upstream::client_options client_options(const config& cfg) {
  upstream::client_options o;
  o.url = cfg.upstream_url;
  o.max_connections = cfg.upstream_max_connections;
  o.extra_ca_file = cfg.upstream_ca_file;
  o.version = cfg.upstream_version;
  return o;
}

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
        upstream{ioc.get_executor(), client_options(cfg), stats},
        tuning{hedge::tuning_options{cfg.hedge_budget_percent, cfg.hedge_percentile,
                                     cfg.hedge_delay, cfg.hedge_delay_floor},
               stats},
        edge{ioc,
             cfg,
             stats,
             stats,
             [this](int /*attempt*/, upstream::request_tags tags, stop_signal& stop) {
               return upstream.fetch(stop, tags);
             },
             tuning,
             cfg.metrics_host.empty() ? edge::listener_role::all : edge::listener_role::api},
        signals{net::make_strand(ioc)} {
    if (!cfg.metrics_host.empty()) {
      // It never races (its routes do not call the upstream).
      admin.emplace(ioc, cfg, stats, stats, hedge::attempt_fn{}, tuning,
                    edge::listener_role::admin);
    }
  }

  config cfg;
  net::io_context ioc;
  metrics stats;
  upstream::client upstream;
  hedge::hedge_tuning tuning;
  edge::server edge;
  std::optional<edge::server> admin;  // --metrics-listen
  net::signal_set signals;
  bool handle_signals = false;  // shutdown_on_signals() was called
  bool shutting_down = false;   // a signal started the drain (on the signals' strand)
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
  // Once the last request of a drain is answered (on every listener),
  // nothing may keep the io_context alive: stop listening for signals.
  auto listeners = std::make_shared<std::atomic<int>>(i.admin ? 2 : 1);
  auto drained = [&i, listeners] {
    if (listeners->fetch_sub(1) != 1) {
      return;
    }
    net::post(i.signals.get_executor(), [&i] {
      error_code ignored;
      i.signals.cancel(ignored);
      i.signals.clear(ignored);
    });
  };
  i.edge.on_drained(drained);
  if (i.admin) {
    i.admin->on_drained(drained);
  }
  // The first resolution may block for seconds: until it is done, a signal
  // keeps its default action (and ends the process at once). From here on,
  // before the port opens, it starts the graceful shutdown.
  i.upstream.start();
  i.resolved = true;
  if (i.handle_signals) {
    install_signal_handlers();
  }
  i.edge.start();
  if (i.admin) {
    i.admin->start();
  }
  i.threads.reserve(static_cast<std::size_t>(i.cfg.threads));
  for (int n = 0; n < i.cfg.threads; ++n) {
    i.threads.emplace_back([&ioc = i.ioc, spin = i.cfg.busy_poll] { run_loop(ioc, spin); });
  }
}

std::uint16_t service::port() const {
  return impl_->edge.port();
}

std::uint16_t service::metrics_port() const {
  return impl_->admin ? impl_->admin->port() : impl_->edge.port();
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
  i.signals.add(SIGHUP);
  await_signal();
}

void service::await_signal() {
  impl_->signals.async_wait([this](const error_code& ec, int signal) {
    if (ec) {
      return;  // the drain is over (see start())
    }
    if (signal == SIGHUP) {
      // Log rotation's convention: the file was moved away, write a new one.
      reopen_log_file();
      await_signal();
      return;
    }
    if (impl_->shutting_down) {
      spdlog::warn("second signal: exiting without finishing the requests in flight");
      spdlog::shutdown();
      std::_Exit(1);
    }
    impl_->shutting_down = true;
    spdlog::info("signal {}: shutting down gracefully (a second signal exits at once)", signal);
    // Keep listening: a second SIGINT or SIGTERM ends the drain at once.
    await_signal();
    shutdown();
  });
}

void service::shutdown() {
  auto& i = *impl_;
  i.edge.shutdown();
  if (i.admin) {
    i.admin->shutdown();
  }
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
