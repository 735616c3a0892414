#pragma once
// What each route answers, without any I/O: the edge's decisions in one
// place (which policy an endpoint runs, how a race's verdict maps to a status
// code, the service endpoints' bodies). server.cpp does the I/O around them.

#include "smart/clock.hpp"
#include "smart/edge/response.hpp"
#include "smart/edge/route.hpp"
#include "smart/hedge/race.hpp"

#include <optional>
#include <string_view>

namespace smart {
struct config;
}  // namespace smart

namespace smart::edge {

class edge_stats;

// How an API request will run, or why it is rejected.
struct api_plan {
  hedge::policy policy;
  std::chrono::milliseconds timeout{};  // the effective timeout (max when absent)
  bool timeout_given = false;
  std::optional<response> reject;  // 400 invalid_timeout
};

api_plan plan_api(route r, std::string_view query, const config& cfg);

// The response for a finished race (never called for verdict::pending).
// Takes the body out of `result`.
response race_response(hedge::race_result& result, const api_plan& plan);

// 503 overloaded, for requests past --max-inflight.
response overloaded_response();

// Responses of the non-API routes. /metrics serves a rendering at most
// `metrics_cache` old (metrics::exposition()). The documents (is_document)
// come with their ETag, and are 304 when `if_none_match` names it.
response service_response(route r, bool ready, const edge_stats& stats,
                          std::chrono::milliseconds metrics_cache,
                          std::string_view if_none_match = {});

// An embedded document (is_document(r)): 200 with its body, or 304.
response document_response(route r, std::string_view if_none_match);

response not_found_response();
response method_not_allowed_response();

}  // namespace smart::edge
