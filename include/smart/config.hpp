#pragma once
// Service configuration: every option is a command-line flag with an
// environment-variable twin; the flag wins. Parsing is pure (arguments and an
// environment lookup in, a result out) so that it can be tested without a
// process.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace smart {

inline constexpr std::string_view default_upstream_url =
    "https://exponea-engineering-assignment.appspot.com/api/work";

// Which HTTP version the upstream client speaks.
enum class upstream_http : std::uint8_t {
  automatic,  // https: what the server picks by ALPN (h2 or http/1.1); http: HTTP/1.1
  http1,      // HTTP/1.1 only
  http2,      // HTTP/2 only: by ALPN on https, with prior knowledge (h2c) on http
};

struct config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8000;
  std::string upstream_url{default_upstream_url};
  std::chrono::milliseconds hedge_delay{300};
  int hedge_count = 2;
  std::chrono::milliseconds max_timeout{60000};
  int threads = 1;  // parse_config() defaults it to the number of cores
  int max_inflight = 4096;
  int upstream_max_connections = 1024;
  std::string log_level = "info";
  std::string log_file = "api.log";  // empty: console only

  // Beyond the specification's table; documented in the README.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds keepalive_timeout{75000};
  int max_connections = 16384;  // client connections at once
  // Opt-in hedging refinements (0: off, the specification's fixed policy).
  double hedge_budget_percent = 0;
  double hedge_percentile = 0;
  std::chrono::milliseconds hedge_delay_floor{20};
  std::string upstream_ca_file;  // extra trusted CA bundle (PEM); the system store stays on
  upstream_http upstream_version = upstream_http::automatic;
  bool access_log = true;
  // Log lines as JSON objects, one a line (for log collectors), instead of
  // text (--log-format json).
  bool log_json = false;
  // After the last event, keep polling this long before sleeping (0: never
  // poll). Trades CPU for latency where waking a sleeping core is slow.
  std::chrono::microseconds busy_poll{0};
  // A listener of its own for /metrics, /healthz and /readyz (an empty
  // metrics_host: none, and /metrics is served on the API port).
  std::string metrics_host;
  std::uint16_t metrics_port = 0;
  // One rendering of /metrics serves every scrape for this long (0: each
  // scrape renders).
  std::chrono::milliseconds metrics_cache{1000};
};

// Returns the value of an environment variable, or nothing when unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Reads the process environment.
env_lookup process_environment();

struct parse_outcome {
  enum class action { run, help, version, error };
  action what = action::run;
  config cfg;
  std::string message;  // usage text, version text or the error (naming the option)
};

// Parses command-line arguments (without the program name) over the
// environment. Never exits and never prints.
parse_outcome parse_config(std::span<const std::string_view> args, const env_lookup& env);

// One line describing the effective configuration, for the start-up log.
std::string describe(const config& cfg);

// Strict decimal parsing: digits only (no sign, space or fraction), value in
// [min, max]; nothing on any violation, including overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t min,
                                           std::uint64_t max);

}  // namespace smart
