#include "smart/config.hpp"

#include "smart/build_info.hpp"
#include "smart/upstream/url.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <thread>
#include <tuple>

namespace smart {

std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t min,
                                           std::uint64_t max) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint64_t>(c - '0');
    // value * 10 + digit <= max, rearranged so that nothing can overflow.
    if (digit > max || value > (max - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  if (value < min) {
    return std::nullopt;
  }
  return value;
}

namespace {

using setter = std::string (*)(config&, std::string_view);  // returns an error or ""

struct option {
  std::string_view flag;
  std::string_view env;
  std::string_view value_name;  // empty for options without a value
  std::string_view default_text;
  std::string_view help;
  setter set;
};

std::string range_error(std::uint64_t min, std::uint64_t max) {
  return "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

template <typename T, std::uint64_t Min, std::uint64_t Max>
std::string set_integer(T& field, std::string_view text) {
  const auto v = parse_decimal(text, Min, Max);
  if (!v) {
    return range_error(Min, Max);
  }
  field = static_cast<T>(*v);
  return {};
}

template <std::uint64_t Min, std::uint64_t Max>
std::string set_millis(std::chrono::milliseconds& field, std::string_view text) {
  std::int64_t ms = 0;
  auto err = set_integer<std::int64_t, Min, Max>(ms, text);
  if (err.empty()) {
    field = std::chrono::milliseconds{ms};
  }
  return err;
}

// A decimal number with at most one digit after the point, in [Min, Max].
template <std::uint64_t Min, std::uint64_t Max>
std::string set_fraction(double& field, std::string_view text) {
  const auto dot = text.find('.');
  const auto whole = parse_decimal(text.substr(0, dot), Min, Max);
  std::uint64_t tenths = 0;
  bool ok = whole.has_value();
  if (ok && dot != std::string_view::npos) {
    const auto frac = text.substr(dot + 1);
    ok = frac.size() == 1 && frac[0] >= '0' && frac[0] <= '9';
    tenths = ok ? static_cast<std::uint64_t>(frac[0] - '0') : 0;
  }
  const double value = ok ? static_cast<double>(*whole) + static_cast<double>(tenths) / 10 : 0;
  if (!ok || value > static_cast<double>(Max)) {
    return "must be a number from " + std::to_string(Min) + " to " + std::to_string(Max) +
           " (one decimal at most)";
  }
  field = value;
  return {};
}

// Whether `text` can name a local address to listen on: an IP address, or a
// host name (resolved when the service starts).
bool valid_listen_host(std::string_view text) {
  boost::system::error_code ec;
  std::ignore = boost::asio::ip::make_address(std::string{text}, ec);
  if (!ec) {
    return true;
  }
  if (text.empty() || text.size() > 253 || text.front() == '.' || text.front() == '-') {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  });
}

std::string set_listen_host(std::string& field, std::string_view text) {
  if (!valid_listen_host(text)) {
    return "must be an IP address or a host name";
  }
  field = text;
  return {};
}

// HOST:PORT, with an IPv6 address in brackets; empty: none.
std::string set_listen_address(config& c, std::string_view text) {
  if (text.empty()) {
    c.metrics_host.clear();
    c.metrics_port = 0;
    return {};
  }
  const auto colon = text.rfind(':');
  const std::string_view why = "must be HOST:PORT (an IPv6 address in brackets), or empty";
  if (colon == std::string_view::npos || colon == 0) {
    return std::string{why};
  }
  auto host = text.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::string{why};
  }
  const auto port = parse_decimal(text.substr(colon + 1), 0, 65535);
  std::string parsed_host;
  if (!port || !set_listen_host(parsed_host, host).empty()) {
    return std::string{why};
  }
  c.metrics_host = std::move(parsed_host);
  c.metrics_port = static_cast<std::uint16_t>(*port);
  return {};
}

constexpr std::array<std::string_view, 7> log_levels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

// The table every part of the command line is derived from: parsing, the
// environment twins and the usage text. Keep it in the README's order.
const std::array<option, 25> options = {{
    {"--host", "SMART_HOST", "ADDR", "0.0.0.0",
     "address to listen on (a host name: its first address, resolved at start)",
     [](config& c, std::string_view v) { return set_listen_host(c.host, v); }},
    {"--port", "SMART_PORT", "PORT", "8000", "TCP port to listen on (0: any free port)",
     [](config& c, std::string_view v) { return set_integer<std::uint16_t, 0, 65535>(c.port, v); }},
    {"--upstream-url", "SMART_UPSTREAM_URL", "URL", "the Exponea work API",
     "http:// or https:// URL of the upstream work API",
     [](config& c, std::string_view v) -> std::string {
       auto parsed = upstream::parse_url(v);
       if (!parsed) {
         return parsed.error();
       }
       c.upstream_url = v;
       return {};
     }},
    {"--hedge-delay-ms", "SMART_HEDGE_DELAY_MS", "MS", "300",
     "start the hedge attempts when attempt 1 has not succeeded after this long",
     [](config& c, std::string_view v) { return set_millis<0, 3'600'000>(c.hedge_delay, v); }},
    {"--hedge-count", "SMART_HEDGE_COUNT", "N", "2", "number of hedge attempts",
     [](config& c, std::string_view v) { return set_integer<int, 0, 8>(c.hedge_count, v); }},
    {"--max-timeout-ms", "SMART_MAX_TIMEOUT_MS", "MS", "60000",
     "largest accepted timeout, and the bound when none is given",
     [](config& c, std::string_view v) { return set_millis<1, 3'600'000>(c.max_timeout, v); }},
    {"--threads", "SMART_THREADS", "N", "number of cores", "I/O threads",
     [](config& c, std::string_view v) { return set_integer<int, 1, 256>(c.threads, v); }},
    {"--max-inflight", "SMART_MAX_INFLIGHT", "N", "4096",
     "API requests in flight before answering 503 overloaded",
     [](config& c, std::string_view v) {
       return set_integer<int, 1, 1'000'000>(c.max_inflight, v);
     }},
    {"--upstream-max-connections", "SMART_UPSTREAM_MAX_CONNECTIONS", "N", "1024",
     "open upstream connections at most (attempts beyond wait for one)",
     [](config& c, std::string_view v) {
       return set_integer<int, 1, 1'000'000>(c.upstream_max_connections, v);
     }},
    {"--log-level", "SMART_LOG_LEVEL", "LEVEL", "info",
     "trace, debug, info, warn, error, critical or off",
     [](config& c, std::string_view v) -> std::string {
       if (std::find(log_levels.begin(), log_levels.end(), v) == log_levels.end()) {
         return "must be one of trace, debug, info, warn, error, critical, off";
       }
       c.log_level = v;
       return {};
     }},
    {"--log-file", "SMART_LOG_FILE", "PATH", "api.log", "rotating log file (empty: console only)",
     [](config& c, std::string_view v) -> std::string {
       c.log_file = v;
       return {};
     }},
    {"--log-format", "SMART_LOG_FORMAT", "text|json", "text",
     "log lines as text, or as JSON objects one a line (for log collectors)",
     [](config& c, std::string_view v) -> std::string {
       if (v == "text") {
         c.log_json = false;
       } else if (v == "json") {
         c.log_json = true;
       } else {
         return "must be text or json";
       }
       return {};
     }},
    {"--header-timeout-ms", "SMART_HEADER_TIMEOUT_MS", "MS", "10000",
     "time a client has to send a request's headers, and to read a response",
     [](config& c, std::string_view v) { return set_millis<100, 3'600'000>(c.header_timeout, v); }},
    {"--keepalive-timeout-ms", "SMART_KEEPALIVE_TIMEOUT_MS", "MS", "75000",
     "idle time after which a keep-alive client connection is closed",
     [](config& c, std::string_view v) {
       return set_millis<100, 3'600'000>(c.keepalive_timeout, v);
     }},
    {"--max-connections", "SMART_MAX_CONNECTIONS", "N", "16384",
     "client connections at once; more are answered 503 and closed",
     [](config& c, std::string_view v) {
       return set_integer<int, 1, 1'000'000>(c.max_connections, v);
     }},
    {"--hedge-budget-percent", "SMART_HEDGE_BUDGET_PERCENT", "P", "0 (off)",
     "hedge attempts at most P % of first attempts over 10 s (plus 10)",
     [](config& c, std::string_view v) {
       return set_fraction<0, 1000>(c.hedge_budget_percent, v);
     }},
    {"--hedge-percentile", "SMART_HEDGE_PERCENTILE", "Q", "0 (off)",
     "hedge delay follows latency percentile Q (50-99.9) of first attempts",
     [](config& c, std::string_view v) -> std::string {
       auto err = set_fraction<0, 100>(c.hedge_percentile, v);
       if (err.empty() && c.hedge_percentile != 0 &&
           (c.hedge_percentile < 50 || c.hedge_percentile >= 100)) {
         return "must be 0 (off) or from 50 to 99.9";
       }
       return err;
     }},
    {"--hedge-delay-floor-ms", "SMART_HEDGE_DELAY_FLOOR_MS", "MS", "20",
     "the shortest adaptive hedge delay (at most the hedge delay)",
     [](config& c, std::string_view v) {
       return set_millis<1, 3'600'000>(c.hedge_delay_floor, v);
     }},
    {"--upstream-ca-file", "SMART_UPSTREAM_CA_FILE", "PATH", "none",
     "extra PEM CA bundle trusted for the upstream, besides the system store",
     [](config& c, std::string_view v) -> std::string {
       c.upstream_ca_file = v;
       return {};
     }},
    {"--upstream-http", "SMART_UPSTREAM_HTTP", "auto|1.1|2", "auto",
     "upstream HTTP version; auto: h2 or 1.1 by ALPN on https, 1.1 on http",
     [](config& c, std::string_view v) -> std::string {
       if (v == "auto") {
         c.upstream_version = upstream_http::automatic;
       } else if (v == "1.1") {
         c.upstream_version = upstream_http::http1;
       } else if (v == "2") {
         c.upstream_version = upstream_http::http2;
       } else {
         return "must be auto, 1.1 or 2";
       }
       return {};
     }},
    {"--access-log", "SMART_ACCESS_LOG", "on|off", "on", "one log line per request",
     [](config& c, std::string_view v) -> std::string {
       if (v == "on" || v == "true" || v == "1") {
         c.access_log = true;
       } else if (v == "off" || v == "false" || v == "0") {
         c.access_log = false;
       } else {
         return "must be on or off";
       }
       return {};
     }},
    {"--busy-poll-us", "SMART_BUSY_POLL_US", "US", "0 (off)",
     "after the last event, poll this long before sleeping (costs CPU)",
     [](config& c, std::string_view v) {
       std::int64_t us = 0;
       auto err = set_integer<std::int64_t, 0, 1'000'000>(us, v);
       if (err.empty()) {
         c.busy_poll = std::chrono::microseconds{us};
       }
       return err;
     }},
    {"--metrics-listen", "SMART_METRICS_LISTEN", "HOST:PORT", "none (on the API port)",
     "serve /metrics, /healthz and /readyz on this address; /metrics leaves the API port",
     set_listen_address},
    {"--metrics-cache-ms", "SMART_METRICS_CACHE_MS", "MS", "1000",
     "one /metrics rendering serves every scrape for this long (0: render each time)",
     [](config& c, std::string_view v) { return set_millis<0, 60'000>(c.metrics_cache, v); }},
    {"--help", "", "", "", "print this help and exit", nullptr},
}};

std::string usage() {
  std::ostringstream out;
  out << "Usage: smart-api [OPTION]...\n"
         "Hedged-request HTTP gateway: GET /api/smart?timeout=MS answers with the first\n"
         "successful response of the upstream work API.\n\n"
         "Every option also reads an environment variable; the flag wins.\n\n";
  for (const auto& o : options) {
    std::string left{o.flag};
    if (!o.value_name.empty()) {
      left += ' ';
      left += o.value_name;
    }
    out << "  " << left << std::string(left.size() < 32 ? 32 - left.size() : 1, ' ') << o.help;
    if (!o.env.empty()) {
      out << "\n"
          << std::string(34, ' ') << "[env " << o.env << ", default " << o.default_text << "]";
    }
    out << '\n';
  }
  out << "  --version" << std::string(23, ' ') << "print the version and exit\n";
  return out.str();
}

}  // namespace

env_lookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string key{name};
    if (const char* value = std::getenv(key.c_str())) {  // NOLINT(concurrency-mt-unsafe)
      return std::string{value};
    }
    return std::nullopt;
  };
}

parse_outcome parse_config(std::span<const std::string_view> args, const env_lookup& env) {
  parse_outcome out;
  const auto hw = std::thread::hardware_concurrency();
  out.cfg.threads = hw == 0 ? 1 : static_cast<int>(std::min(hw, 256U));

  auto fail = [&out](std::string_view name, std::string_view value, std::string_view why) {
    out.what = parse_outcome::action::error;
    // A value meant as a URL may carry a password: never repeat it.
    out.message = std::string{name} + ": invalid value '" + upstream::redact_userinfo(value) +
                  "': " + std::string{why};
    return out;
  };

  // The flags first: the value each names (the last one wins)...
  std::array<std::optional<std::string_view>, options.size()> given{};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.what = parse_outcome::action::help;
      out.message = usage();
      return out;
    }
    if (arg == "--version") {
      out.what = parse_outcome::action::version;
      out.message = std::string{"smart-api "} + std::string{build_info::version()} + " (" +
                    std::string{build_info::revision()} + ")\n";
      return out;
    }
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const auto* o = std::find_if(options.begin(), options.end(),
                                 [&](const option& candidate) { return candidate.flag == name; });
    if (o == options.end() || o->set == nullptr || !arg.starts_with("--")) {
      out.what = parse_outcome::action::error;
      out.message = std::string{name} + ": unknown option (see --help)";
      return out;
    }
    if (eq != std::string_view::npos) {
      given[static_cast<std::size_t>(o - options.begin())] = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      given[static_cast<std::size_t>(o - options.begin())] = args[++i];
    } else {
      out.what = parse_outcome::action::error;
      out.message = std::string{name} + ": missing value";
      return out;
    }
  }

  // ...then, option by option, the effective value (the flag's, or else the
  // environment's) is the one validated: an environment value that a flag
  // overrides does not matter.
  for (std::size_t n = 0; n < options.size(); ++n) {
    const auto& o = options[n];
    if (o.set == nullptr) {
      continue;
    }
    std::optional<std::string> from_env;
    if (!given[n] && !o.env.empty()) {
      from_env = env(o.env);
    }
    if (!given[n] && !from_env) {
      continue;
    }
    const std::string_view value = given[n] ? *given[n] : std::string_view{*from_env};
    if (auto err = o.set(out.cfg, value); !err.empty()) {
      return fail(given[n] ? o.flag : o.env, value, err);
    }
  }
  return out;
}

std::string describe(const config& cfg) {
  std::ostringstream out;
  out << "host=" << cfg.host << " port=" << cfg.port << " upstream_url=" << cfg.upstream_url
      << " hedge_delay_ms=" << cfg.hedge_delay.count() << " hedge_count=" << cfg.hedge_count
      << " max_timeout_ms=" << cfg.max_timeout.count() << " threads=" << cfg.threads
      << " max_inflight=" << cfg.max_inflight
      << " upstream_max_connections=" << cfg.upstream_max_connections
      << " log_level=" << cfg.log_level
      << " log_file=" << (cfg.log_file.empty() ? "(console only)" : cfg.log_file)
      << " log_format=" << (cfg.log_json ? "json" : "text")
      << " header_timeout_ms=" << cfg.header_timeout.count()
      << " keepalive_timeout_ms=" << cfg.keepalive_timeout.count()
      << " max_connections=" << cfg.max_connections
      << " hedge_budget_percent=" << cfg.hedge_budget_percent
      << " hedge_percentile=" << cfg.hedge_percentile
      << " hedge_delay_floor_ms=" << cfg.hedge_delay_floor.count() << " upstream_http="
      << (cfg.upstream_version == upstream_http::http1   ? "1.1"
          : cfg.upstream_version == upstream_http::http2 ? "2"
                                                         : "auto")
      << " upstream_ca_file=" << (cfg.upstream_ca_file.empty() ? "(none)" : cfg.upstream_ca_file)
      << " access_log=" << (cfg.access_log ? "on" : "off")
      << " busy_poll_us=" << cfg.busy_poll.count() << " metrics_listen="
      << (cfg.metrics_host.empty() ? std::string{"(api port)"}
                                   : cfg.metrics_host + ":" + std::to_string(cfg.metrics_port))
      << " metrics_cache_ms=" << cfg.metrics_cache.count();
  return out.str();
}

}  // namespace smart
