#pragma once
// The upstream's addresses, resolved in the background. Internal to the
// upstream layer.

#include "smart/net.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace smart::upstream {

// getaddrinfo() cannot be cancelled and may wait many seconds on a DNS server
// that does not answer, so each refresh runs on a detached thread that nobody
// joins: neither a request nor a shutdown ever waits for it.
class name_cache : public std::enable_shared_from_this<name_cache> {
 public:
  using endpoints = std::shared_ptr<const std::vector<tcp::endpoint>>;

  [[nodiscard]] endpoints current() const {
    std::lock_guard lock{mu_};
    return endpoints_;
  }
  // Whether the last resolution succeeded.
  [[nodiscard]] bool ok() const { return ok_.load(std::memory_order_relaxed); }

  void store(std::vector<tcp::endpoint> list);
  // The reason the last resolution failed, once; empty if it did not.
  std::string take_error();

  // Resolves now, on this thread; returns why it failed (empty: stored). The
  // reason is also kept for take_error(), unless `report` is false.
  std::string resolve(const std::string& host, const std::string& port,
                      bool report = true) noexcept;
  // Starts a resolution in the background, unless one is still under way.
  void refresh(const std::string& host, const std::string& port);

 private:
  mutable std::mutex mu_;
  endpoints endpoints_;
  std::string error_;
  std::atomic<bool> ok_{false};
  std::atomic<bool> busy_{false};
};

}  // namespace smart::upstream
