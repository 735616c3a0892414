#include "smart/edge/handlers.hpp"

#include "smart/config.hpp"
#include "smart/edge/query.hpp"
#include "smart/edge/stats.hpp"

#include <string>

namespace smart::embedded {
std::string_view openapi_json();
std::string_view docs_html();
}  // namespace smart::embedded

namespace smart::edge {

namespace {

// The classic endpoints of spec §3 always fire three attempts.
constexpr int classic_attempts = 3;

}  // namespace

api_plan plan_api(route r, std::string_view query, const config& cfg) {
  api_plan plan;
  const auto t = parse_timeout(query, cfg.max_timeout);
  if (t.state == timeout_param::status::invalid) {
    plan.reject = error_response(400, "invalid_timeout",
                                 "timeout must be a whole number of milliseconds from 1 to " +
                                     std::to_string(cfg.max_timeout.count()) + ", given once");
    return plan;
  }
  plan.timeout_given = t.state == timeout_param::status::valid;
  plan.timeout = plan.timeout_given ? t.value : cfg.max_timeout;
  switch (r) {
    case route::smart:
      plan.policy = hedge::policy::hedged(cfg.hedge_count, cfg.hedge_delay);
      break;
    case route::first:
      plan.policy = hedge::policy::all_at_once(classic_attempts, hedge::rule::first_success);
      break;
    case route::all:
      plan.policy = hedge::policy::all_at_once(classic_attempts, hedge::rule::all_finished);
      break;
    default:
      plan.policy = hedge::policy::all_at_once(classic_attempts, hedge::rule::by_deadline);
      break;
  }
  return plan;
}

response race_response(hedge::race_result& result, const api_plan& plan) {
  switch (result.decided) {
    case hedge::verdict::success:
    case hedge::verdict::collected: {
      response r;
      r.body = std::move(result.body);
      return r;
    }
    case hedge::verdict::all_failed:
      return error_response(
          502, "upstream_failed",
          "all " + std::to_string(result.attempts_started) + " upstream attempts failed");
    case hedge::verdict::deadline:
    case hedge::verdict::pending:
      break;
  }
  const auto ms = std::to_string(plan.timeout.count());
  if (plan.policy.decide == hedge::rule::all_finished) {
    return error_response(504, "timeout",
                          "not every upstream attempt finished within " + ms + " ms");
  }
  return error_response(504, "timeout", "no successful upstream response within " + ms + " ms");
}

response overloaded_response() {
  auto r = error_response(503, "overloaded", "too many requests in flight; retry shortly");
  r.retry_after = 1;
  return r;
}

response service_response(route r, bool ready, const edge_stats& stats,
                          std::chrono::milliseconds metrics_cache) {
  response out;
  switch (r) {
    case route::healthz:
      out.static_body = R"({"status":"ok"})";
      break;
    case route::readyz:
      if (ready) {
        out.static_body = R"({"status":"ready"})";
      } else {
        out = error_response(503, "shutting_down", "the service is shutting down");
      }
      break;
    case route::metrics:
      out.content_type = "text/plain; version=0.0.4; charset=utf-8";
      out.shared_body = stats.exposition(metrics_cache);
      break;
    case route::openapi:
      out.static_body = embedded::openapi_json();
      break;
    case route::docs:
      out.content_type = "text/html; charset=utf-8";
      out.static_body = embedded::docs_html();
      break;
    default:
      return not_found_response();
  }
  return out;
}

response not_found_response() {
  return error_response(404, "not_found", "no such endpoint; see /openapi.json");
}

response method_not_allowed_response() {
  auto r = error_response(405, "method_not_allowed", "only GET and HEAD are allowed here");
  r.allow = "GET, HEAD";
  return r;
}

}  // namespace smart::edge
