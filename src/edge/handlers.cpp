#include "smart/edge/handlers.hpp"

#include "smart/config.hpp"
#include "smart/edge/query.hpp"
#include "smart/edge/stats.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace smart::embedded {
std::string_view openapi_json();
std::string_view docs_html();
std::string_view docs_js();
std::string_view swagger_ui_js();
std::string_view swagger_ui_css();
}  // namespace smart::embedded

namespace smart::edge {

namespace {

// The classic endpoints of spec §3 always fire three attempts.
constexpr int classic_attempts = 3;

// The documents change only with the program: a browser keeps them and asks
// each time whether they changed (no-cache), which a 304 answers.
constexpr std::string_view document_caching = "no-cache";
// The page runs no inline script and loads nothing from elsewhere; Swagger UI
// sets inline styles, and its icons are data: URLs.
constexpr std::string_view docs_policy =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

struct document {
  std::string_view body;
  std::string_view content_type;
  std::string etag;  // quoted
};

// FNV-1a (64 bits) of the body, in hex: a strong validator for bytes that
// are fixed when the program is built.
std::string etag_of(std::string_view body) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : body) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  constexpr char digits[] = "0123456789abcdef";
  std::string tag(18, '"');
  for (int i = 16; i >= 1; --i, h >>= 4U) {
    tag[static_cast<std::size_t>(i)] = digits[h & 0xfU];
  }
  return tag;
}

// The documents in route order (route::openapi .. route::swagger_css),
// their tags computed once.
static_assert(static_cast<int>(route::docs) == static_cast<int>(route::openapi) + 1 &&
                  static_cast<int>(route::docs_script) == static_cast<int>(route::openapi) + 2 &&
                  static_cast<int>(route::swagger_js) == static_cast<int>(route::openapi) + 3 &&
                  static_cast<int>(route::swagger_css) == static_cast<int>(route::openapi) + 4,
              "document_of() indexes the documents by route");
const document& document_of(route r) {
  static const std::array<document, 5> documents = [] {
    std::array<document, 5> d{{
        {embedded::openapi_json(), json_type, {}},
        {embedded::docs_html(), "text/html; charset=utf-8", {}},
        {embedded::docs_js(), "text/javascript; charset=utf-8", {}},
        {embedded::swagger_ui_js(), "text/javascript; charset=utf-8", {}},
        {embedded::swagger_ui_css(), "text/css; charset=utf-8", {}},
    }};
    for (auto& doc : d) {
      doc.etag = etag_of(doc.body);
    }
    return d;
  }();
  return documents[static_cast<std::size_t>(r) - static_cast<std::size_t>(route::openapi)];
}

// Whether an If-None-Match value names `etag` (RFC 9110 §13.1.2: a list of
// entity tags, weakly compared, or "*").
bool none_match_names(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    auto candidate = if_none_match.substr(0, comma);
    const auto first = candidate.find_first_not_of(" \t");
    candidate = first == std::string_view::npos
                    ? std::string_view{}
                    : candidate.substr(first, candidate.find_last_not_of(" \t") - first + 1);
    if (candidate.substr(0, 2) == "W/") {
      candidate.remove_prefix(2);
    }
    if (candidate == "*" || candidate == etag) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

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

response document_response(route r, std::string_view if_none_match) {
  const auto& doc = document_of(r);
  response out;
  out.etag = doc.etag;
  out.cache_control = document_caching;
  if (!if_none_match.empty() && none_match_names(if_none_match, doc.etag)) {
    out.status = 304;
    return out;
  }
  out.content_type = doc.content_type;
  out.static_body = doc.body;
  if (r == route::docs) {
    out.content_security_policy = docs_policy;
  }
  return out;
}

response service_response(route r, bool ready, const edge_stats& stats,
                          std::chrono::milliseconds metrics_cache, std::string_view if_none_match) {
  if (is_document(r)) {
    return document_response(r, if_none_match);
  }
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
