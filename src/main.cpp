// smart-api: configuration -> logging -> service -> signals -> start -> wait.

#include "smart/config.hpp"
#include "smart/logging.hpp"
#include "smart/service.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

int main(int argc, char* argv[]) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const auto parsed = smart::parse_config(args, smart::process_environment());
  switch (parsed.what) {
    case smart::parse_outcome::action::help:
    case smart::parse_outcome::action::version:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case smart::parse_outcome::action::error:
      std::fprintf(stderr, "smart-api: %s\n", parsed.message.c_str());
      return 2;
    case smart::parse_outcome::action::run:
      break;
  }
  const auto& cfg = parsed.cfg;

  try {
    smart::init_logging(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smart-api: --log-file: %s\n", e.what());
    return 2;
  }
  // Writes to a closed socket must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Until the handlers are in place (before the port opens), a log
  // rotation's SIGHUP must not end the process either.
  std::signal(SIGHUP, SIG_IGN);
  const auto open_files = smart::raise_open_file_limit();

  int status = 0;
  try {
    smart::service svc{cfg};
    // Asked for before start(), which installs the handlers before the port
    // opens: a signal that comes as soon as the port is open (a quick
    // `docker stop`, a script that waits for the port) finds the graceful
    // shutdown in place, not the default action or, for a background job's
    // ignored SIGINT, nothing at all.
    svc.shutdown_on_signals();
    svc.start();
    if (!cfg.metrics_host.empty()) {
      spdlog::info("metrics, health and readiness on {}:{}", cfg.metrics_host, svc.metrics_port());
    }
    spdlog::info("smart-api listening on {}:{}; {} open_files_limit={}", cfg.host, svc.port(),
                 smart::describe(cfg), open_files);
    svc.wait();
    spdlog::info("smart-api stopped");
  } catch (const std::invalid_argument& e) {
    spdlog::critical("invalid configuration: {}", e.what());
    status = 2;
  } catch (const std::system_error& e) {
    spdlog::critical("cannot start: {}", e.what());
    status = 1;
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    status = 1;
  }
  smart::stop_logging();
  return status;
}
