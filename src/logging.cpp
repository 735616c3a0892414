#include "smart/logging.hpp"

#include "smart/config.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace smart {

namespace {

constexpr std::size_t queue_size = 16384;
constexpr std::size_t file_size = 10 * 1024 * 1024;
constexpr std::size_t file_count = 5;
constexpr auto pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

// The log file's sink sits behind a dist_sink, whose mutex lets
// reopen_log_file() swap it for a new one while the logger thread writes.
struct log_file {
  std::mutex mu;
  std::string path;  // empty: console only
  std::shared_ptr<spdlog::sinks::dist_sink_mt> slot;
};

log_file& the_log_file() {
  static log_file instance;
  return instance;
}

}  // namespace

void init_logging(const config& cfg) {
  spdlog::init_thread_pool(queue_size, 1);
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  if (!cfg.log_file.empty()) {
    auto& file = the_log_file();
    const std::lock_guard lock{file.mu};
    file.path = cfg.log_file;
    file.slot = std::make_shared<spdlog::sinks::dist_sink_mt>();
    file.slot->add_sink(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        cfg.log_file, file_size, file_count));
    sinks.push_back(file.slot);
  }
  // When the queue is full, the oldest lines are dropped: a burst of access
  // lines must never block a request.
  auto logger = std::make_shared<spdlog::async_logger>(
      "smart", sinks.begin(), sinks.end(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  logger->set_pattern(pattern);
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds{1});
}

void reopen_log_file() {
  auto& file = the_log_file();
  const std::lock_guard lock{file.mu};
  if (!file.slot) {
    return;
  }
  try {
    // Opens (or creates) the file at the configured path; lines queued
    // before the swap went to the old one, whose descriptor closes with it.
    auto fresh =
        std::make_shared<spdlog::sinks::rotating_file_sink_mt>(file.path, file_size, file_count);
    fresh->set_pattern(pattern);
    file.slot->set_sinks({std::move(fresh)});
    spdlog::info("log file reopened: {}", file.path);
  } catch (const std::exception& e) {
    // The old file stays in use: losing the log is worse than writing it to
    // a file that was moved.
    spdlog::error("cannot reopen the log file {}: {}", file.path, e.what());
  }
}

void stop_logging() {
  spdlog::shutdown();
  auto& file = the_log_file();
  const std::lock_guard lock{file.mu};
  file.slot.reset();
}

}  // namespace smart
