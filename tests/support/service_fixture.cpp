#include "service_fixture.hpp"

#include "smart/metrics.hpp"

#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <thread>

namespace smart::testing {

config test_config(const std::string& upstream_url) {
  config c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.upstream_url = upstream_url;
  c.threads = 2;
  c.log_file = "";
  c.access_log = false;
  c.log_level = "warn";
  c.metrics_cache = std::chrono::milliseconds{0};  // every scrape sees the latest counts
  return c;
}

running_service::running_service(config cfg) : svc_{std::move(cfg)} {
  spdlog::set_level(spdlog::level::warn);
  svc_.start();
}

running_service::~running_service() {
  stop();
}

void running_service::stop() {
  if (!stopped_) {
    stopped_ = true;
    svc_.shutdown();
    svc_.wait();
  }
}

double running_service::metric(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  return metric_value(svc_.stats().render(), name, labels);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return true;
}

double metric_value(std::string_view exposition, std::string_view name,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::istringstream in{std::string{exposition}};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0) {
      continue;
    }
    const auto rest = std::string_view{line}.substr(name.size());
    if (!rest.empty() && rest[0] != '{' && rest[0] != ' ') {
      continue;  // a longer name with the same prefix
    }
    bool all = true;
    for (const auto& [key, value] : labels) {
      const std::string needle = std::string{key} + "=\"" + std::string{value} + "\"";
      all = all && rest.find(needle) != std::string_view::npos;
    }
    if (all) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return 0;
}

}  // namespace smart::testing
