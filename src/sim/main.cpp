// upstream-sim: a stand-in for the Exponea work API, for local runs, the
// compose stack and benchmarks.

#include "behaviour.hpp"
#include "options.hpp"
#include "server.hpp"

#include "smart/net.hpp"
#include "smart/service.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char* argv[]) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const auto parsed = smart::sim::parse_options(args, smart::process_environment());
  if (parsed.what == smart::sim::options_outcome::action::help) {
    std::fputs(parsed.message.c_str(), stdout);
    return 0;
  }
  if (parsed.what == smart::sim::options_outcome::action::error) {
    std::fprintf(stderr, "upstream-sim: %s\n", parsed.message.c_str());
    return 2;
  }
  const auto& o = parsed.opts;
  std::signal(SIGPIPE, SIG_IGN);
  smart::raise_open_file_limit();

  try {
    smart::net::io_context ioc{o.threads};
    smart::sim::behaviour plan{o.latency, o.mix, o.seed, o.key};
    smart::sim::server srv{ioc, plan, o.body, o.wire};
    srv.start(o.host, o.port);

    // The simulator holds no state worth draining: a signal ends it at once.
    smart::net::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&ioc](const smart::error_code&, int) { ioc.stop(); });

    const auto& w = o.wire;
    const char* const http2_modes[] = {"off", "on", "only"};
    spdlog::info(
        "upstream-sim listening on {}:{} latency={} failures={} seed={} plan-by={} threads={} "
        "tls={} http2={} h2-max-streams={} h2-goaway-after={} h2-stall-window={}",
        o.host, srv.port(), o.latency.describe(), o.mix.describe(), o.seed,
        o.key == smart::sim::plan_key::request_id ? "request-id" : "arrival", o.threads,
        w.tls() ? "on" : "off", http2_modes[static_cast<int>(w.http2)], w.h2_max_streams,
        w.h2_goaway_after,
        w.h2_stall_window ? std::to_string(*w.h2_stall_window) : std::string{"off"});
    std::vector<std::thread> threads;
    for (int i = 1; i < o.threads; ++i) {
      threads.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : threads) {
      t.join();
    }
  } catch (const std::exception& e) {
    spdlog::critical("upstream-sim: {}", e.what());
    return 1;
  }
  return 0;
}
