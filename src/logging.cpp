#include "smart/logging.hpp"

#include "smart/config.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace smart {

namespace {

constexpr std::size_t queue_size = 16384;
constexpr std::size_t file_size = 10 * 1024 * 1024;
constexpr std::size_t file_count = 5;

}  // namespace

void init_logging(const config& cfg) {
  spdlog::init_thread_pool(queue_size, 1);
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  if (!cfg.log_file.empty()) {
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.log_file, file_size,
                                                                           file_count));
  }
  // When the queue is full, the oldest lines are dropped: a burst of access
  // lines must never block a request.
  auto logger = std::make_shared<spdlog::async_logger>(
      "smart", sinks.begin(), sinks.end(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds{1});
}

void stop_logging() {
  spdlog::shutdown();
}

}  // namespace smart
