// smart-loadgen: the load generator of the benchmarks, built on the project's
// own upstream client (keep-alive pool, HTTP/1.1).
//
//   smart-loadgen rate  --url URL --rate R --duration S [--warmup S] [--connections N]
//       open loop: request i is due at start + i/R whatever happened before,
//       and its latency counts from that due time (no coordinated omission)
//       --ids PREFIX: request i carries X-Request-Id PREFIX-i
//       --requests-out FILE: one line per measured request: id, status,
//       latency in microseconds
//   smart-loadgen burst --url URL --concurrency N [--connections N] [--warm]
//       N requests at once, each timed from its own start; --warm first sends
//       an uncounted burst so that the measured one finds open connections
//       --abandon F [--abandon-after MS]: a share F of the requests is given up
//       on (the connection closed) after MS milliseconds, counted as status 0
//   smart-loadgen hold  --url URL --concurrency N --duration S
//       N keep-alive connections, one request each, then idle for S seconds
//
// Prints one JSON object: counts by status and latency percentiles in
// microseconds (all samples with --samples).

#include "smart/clock.hpp"
#include "smart/config.hpp"
#include "smart/net.hpp"
#include "smart/service.hpp"
#include "smart/upstream/client.hpp"
#include "smart/upstream/stats.hpp"
#include "smart/upstream/url.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace smart;
using std::chrono::microseconds;

struct options {
  std::string mode;
  std::string url;
  double rate = 1000;
  double duration = 10;
  double warmup = 1;
  int concurrency = 100;
  int connections = 512;
  bool samples = false;
  bool warm = false;
  double abandon = 0;  // share of requests the client gives up on
  double abandon_after_ms = 50;
  std::string ids;           // X-Request-Id prefix; empty: no ids
  std::string requests_out;  // per-request lines go here
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "smart-loadgen: " << why
            << "\nusage: smart-loadgen rate|burst|hold --url URL [--rate R] [--duration S]"
               " [--warmup S] [--concurrency N] [--connections N] [--samples] [--warm]"
               " [--ids PREFIX] [--requests-out FILE]\n";
  std::exit(2);
}

options parse(int argc, char* argv[]) {
  if (argc < 2) {
    usage("no mode");
  }
  options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--url") {
      o.url = value();
    } else if (arg == "--rate") {
      o.rate = std::stod(value());
    } else if (arg == "--duration") {
      o.duration = std::stod(value());
    } else if (arg == "--warmup") {
      o.warmup = std::stod(value());
    } else if (arg == "--concurrency") {
      o.concurrency = std::stoi(value());
    } else if (arg == "--connections") {
      o.connections = std::stoi(value());
    } else if (arg == "--samples") {
      o.samples = true;
    } else if (arg == "--warm") {
      o.warm = true;
    } else if (arg == "--abandon") {
      o.abandon = std::stod(value());
    } else if (arg == "--abandon-after") {
      o.abandon_after_ms = std::stod(value());
    } else if (arg == "--ids") {
      o.ids = value();
    } else if (arg == "--requests-out") {
      o.requests_out = value();
    } else {
      usage("unknown option " + arg);
    }
  }
  // The ids must pass as the request's own (edge/request_id.hpp), or the
  // service would put its own in their place.
  if (o.ids.size() > 100 ||
      o.ids.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "0123456789._:-") != std::string::npos) {
    usage("--ids: up to 100 characters of A-Z a-z 0-9 . _ : -");
  }
  if (o.url.empty() || !upstream::parse_url(o.url)) {
    usage("--url must be an http:// URL");
  }
  if (o.mode != "rate" && o.mode != "burst" && o.mode != "hold") {
    usage("unknown mode " + o.mode);
  }
  return o;
}

struct results {
  std::map<unsigned, long> status;  // 0: no HTTP answer
  std::vector<double> latency_us;
  double elapsed_s = 0;
  std::ostringstream lines;  // per request, with --requests-out

  void record(const upstream::attempt_result& r, duration d, std::string_view id = {}) {
    ++status[r.status];
    const double us = std::chrono::duration<double, std::micro>(d).count();
    latency_us.push_back(us);
    if (!id.empty()) {
      lines << id << ' ' << r.status << ' ' << std::fixed << std::setprecision(1) << us << '\n';
    }
  }
};

double percentile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

void print(const options& o, results& r) {
  std::sort(r.latency_us.begin(), r.latency_us.end());
  std::ostringstream out;
  out << "{\"mode\": \"" << o.mode << "\", \"requests\": " << r.latency_us.size()
      << ", \"elapsed_s\": " << r.elapsed_s << ", \"status\": {";
  bool first = true;
  for (const auto& [code, n] : r.status) {
    out << (first ? "" : ", ") << "\"" << code << "\": " << n;
    first = false;
  }
  out << "}, \"latency_us\": {\"min\": " << (r.latency_us.empty() ? 0 : r.latency_us.front())
      << ", \"p50\": " << percentile(r.latency_us, 0.5)
      << ", \"p90\": " << percentile(r.latency_us, 0.9)
      << ", \"p99\": " << percentile(r.latency_us, 0.99)
      << ", \"p999\": " << percentile(r.latency_us, 0.999)
      << ", \"max\": " << (r.latency_us.empty() ? 0 : r.latency_us.back()) << "}";
  if (o.samples) {
    out << ", \"samples_us\": [";
    for (std::size_t i = 0; i < r.latency_us.size(); ++i) {
      out << (i ? "," : "") << r.latency_us[i];
    }
    out << "]";
  }
  out << "}\n";
  std::cout << out.str();
}

net::awaitable<void> one(upstream::client& c, time_point due, results* r, std::string id) {
  stop_signal never;  // the load generator waits for every answer
  auto res = co_await c.fetch(never, {id, nullptr, {}});
  if (r != nullptr) {
    r->record(res, clock::now() - due, id);
  }
}

// A request whose client gives up after `after`: its connection is closed,
// as a browser tab that is shut would. Counted under status 0.
net::awaitable<void> abandoned(upstream::client& c, time_point due, duration after, results* r) {
  struct give_up {
    explicit give_up(const net::any_io_executor& ex) : timer{ex} {}
    stop_signal stop;
    net::steady_timer timer;
    bool done = false;
  };
  auto state = std::make_shared<give_up>(co_await net::this_coro::executor);
  state->timer.expires_after(after);
  state->timer.async_wait([state](const error_code& ec) {
    if (!ec && !state->done) {
      state->stop.request_stop();
    }
  });
  auto res = co_await c.fetch(state->stop);
  state->done = true;
  state->timer.cancel();
  if (r != nullptr) {
    r->record(res, clock::now() - due);
  }
}

net::awaitable<void> run_rate(net::io_context& ioc, upstream::client& c, const options& o,
                              results& r) {
  net::steady_timer tick{ioc};
  const auto period =
      std::chrono::duration_cast<duration>(std::chrono::duration<double>(1.0 / o.rate));
  const auto begin = clock::now();
  const auto measure_from =
      begin + std::chrono::duration_cast<duration>(std::chrono::duration<double>(o.warmup));
  const auto end = measure_from +
                   std::chrono::duration_cast<duration>(std::chrono::duration<double>(o.duration));
  for (long i = 0;; ++i) {
    const auto due = begin + period * i;
    if (due >= end) {
      break;
    }
    if (due > clock::now()) {
      tick.expires_at(due);
      co_await tick.async_wait(net::as_tuple(net::use_awaitable));
    }
    results* sink = due >= measure_from ? &r : nullptr;
    // Every 1/abandon-th request (evenly spread) is given up on.
    const bool give_up = o.abandon > 0 && std::floor(static_cast<double>(i + 1) * o.abandon) >
                                              std::floor(static_cast<double>(i) * o.abandon);
    if (give_up) {
      net::co_spawn(ioc,
                    abandoned(c, due,
                              std::chrono::duration_cast<duration>(
                                  std::chrono::duration<double, std::milli>(o.abandon_after_ms)),
                              sink),
                    net::detached);
    } else {
      std::string id = o.ids.empty() ? std::string{} : o.ids + "-" + std::to_string(i);
      net::co_spawn(ioc, one(c, due, sink, std::move(id)), net::detached);
    }
  }
  r.elapsed_s = o.duration;
}

// Times one request from its own start: with a warm pool the request is
// written before the coroutine first suspends, so this is its send time.
net::awaitable<void> timed(upstream::client& c, results* r, int* remaining,
                           std::function<void()>* when_all_done) {
  stop_signal never;
  const auto start = clock::now();
  auto res = co_await c.fetch(never);
  if (r != nullptr) {
    r->record(res, clock::now() - start);
  }
  if (--*remaining == 0 && *when_all_done) {
    (*when_all_done)();
  }
}

// The state of a burst; lives in main(), after the io_context it uses.
struct burst_state {
  explicit burst_state(net::io_context& ioc) : settle{ioc} {}
  int remaining = 0;
  std::function<void()> nothing;
  std::function<void()> launch_measured;
  net::steady_timer settle;
};

net::awaitable<void> run_burst(net::io_context& ioc, upstream::client& c, const options& o,
                               results& r, burst_state& b) {
  // With --warm, a first burst opens the connections and is not counted;
  // once its last answer is in and the server has settled, the measured
  // burst starts.
  auto measured = [&ioc, &c, &o, &r, &b] {
    b.remaining = o.concurrency;
    for (int i = 0; i < o.concurrency; ++i) {
      net::co_spawn(ioc, timed(c, &r, &b.remaining, &b.nothing), net::detached);
    }
  };
  if (!o.warm) {
    measured();
    co_return;
  }
  b.launch_measured = [&b, measured] {
    b.settle.expires_after(std::chrono::milliseconds{300});
    b.settle.async_wait([measured](const error_code&) { measured(); });
  };
  b.remaining = o.concurrency;
  for (int i = 0; i < o.concurrency; ++i) {
    net::co_spawn(ioc, timed(c, nullptr, &b.remaining, &b.launch_measured), net::detached);
  }
}

// Opens N connections, sends one request on each, reads the answers, then
// keeps the connections open and idle.
net::awaitable<void> run_hold(net::io_context& ioc, const options& o, results& r) {
  const auto u = *upstream::parse_url(o.url);
  const tcp::endpoint ep{net::ip::make_address(u.host), u.port};
  const std::string request =
      "GET " + u.target + " HTTP/1.1\r\nHost: " + u.host_header() + "\r\n\r\n";
  std::vector<std::unique_ptr<tcp::socket>> held;
  held.reserve(static_cast<std::size_t>(o.concurrency));
  for (int i = 0; i < o.concurrency; ++i) {
    auto s = std::make_unique<tcp::socket>(ioc);
    const auto start = clock::now();
    auto [ec] = co_await s->async_connect(ep, net::as_tuple(net::use_awaitable));
    upstream::attempt_result res;
    if (!ec) {
      co_await net::async_write(*s, net::buffer(request), net::as_tuple(net::use_awaitable));
      beast::flat_buffer buffer;
      http::response<http::string_body> response;
      auto [read_ec, n] =
          co_await http::async_read(*s, buffer, response, net::as_tuple(net::use_awaitable));
      if (!read_ec) {
        res.status = response.result_int();
      }
    }
    r.record(res, clock::now() - start);
    held.push_back(std::move(s));
  }
  std::cerr << "smart-loadgen: holding " << held.size() << " idle connections for " << o.duration
            << " s\n";
  net::steady_timer wait{ioc};
  wait.expires_after(
      std::chrono::duration_cast<duration>(std::chrono::duration<double>(o.duration)));
  co_await wait.async_wait(net::as_tuple(net::use_awaitable));
  r.elapsed_s = o.duration;
}

}  // namespace

int main(int argc, char* argv[]) {
  const auto o = parse(argc, argv);
  raise_open_file_limit();
  net::io_context ioc{1};
  struct no_stats final : upstream::client_stats {
    void upstream_connection_opened(upstream::protocol /*p*/) override {}
    void upstream_connections_in_use(int /*delta*/) override {}
    void upstream_tls_handshake(bool /*resumed*/) override {}
    void upstream_streams_in_use(int /*delta*/) override {}
    void upstream_stream_reset() override {}
    void upstream_goaway_received() override {}
  } unused;
  upstream::client_options copts;
  copts.url = o.url;
  copts.max_connections = o.connections;
  upstream::client c{ioc.get_executor(), copts, unused};
  c.start();
  results r;
  burst_state burst{ioc};
  const auto start = clock::now();
  if (o.mode == "rate") {
    net::co_spawn(ioc, run_rate(ioc, c, o, r), net::detached);
  } else if (o.mode == "burst") {
    net::co_spawn(ioc, run_burst(ioc, c, o, r, burst), net::detached);
  } else {
    net::co_spawn(ioc, run_hold(ioc, o, r), net::detached);
  }
  ioc.run();
  if (o.mode == "burst") {
    r.elapsed_s = std::chrono::duration<double>(clock::now() - start).count();
  }
  print(o, r);
  if (!o.requests_out.empty()) {
    std::ofstream file{o.requests_out};
    file << r.lines.str();
    if (!file) {
      std::cerr << "smart-loadgen: cannot write " << o.requests_out << "\n";
      return 1;
    }
  }
  return 0;
}
