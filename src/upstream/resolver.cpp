#include "resolver.hpp"

#include <thread>
#include <utility>

namespace smart::upstream {

void name_cache::store(std::vector<tcp::endpoint> list) {
  auto shared = std::make_shared<const std::vector<tcp::endpoint>>(std::move(list));
  std::lock_guard lock{mu_};
  endpoints_ = std::move(shared);
  error_.clear();
  ok_.store(true, std::memory_order_relaxed);
}

std::string name_cache::take_error() {
  std::lock_guard lock{mu_};
  return std::exchange(error_, {});
}

std::string name_cache::resolve(const std::string& host, const std::string& port,
                                bool report) noexcept {
  std::string why;
  try {
    net::io_context private_context;
    tcp::resolver resolver{private_context};
    error_code ec;
    const auto results = resolver.resolve(host, port, ec);
    if (!ec && !results.empty()) {
      std::vector<tcp::endpoint> list;
      for (const auto& entry : results) {
        list.push_back(entry.endpoint());
      }
      store(std::move(list));
      return {};
    }
    why = ec ? ec.message() : std::string{"no addresses"};
    ok_.store(false, std::memory_order_relaxed);
    if (report) {
      std::lock_guard lock{mu_};
      error_ = why;
    }
  } catch (...) {
    ok_.store(false, std::memory_order_relaxed);  // out of memory: try again soon
  }
  return why.empty() ? std::string{"resolution failed"} : why;
}

void name_cache::refresh(const std::string& host, const std::string& port) {
  if (busy_.exchange(true)) {
    return;
  }
  try {
    std::thread{[cache = shared_from_this(), host, port] {
      cache->resolve(host, port);
      cache->busy_.store(false);
    }}.detach();
  } catch (...) {
    busy_.store(false);  // no thread now: the next refresh tries again
  }
}

}  // namespace smart::upstream
