#pragma once
// The service's routes: one table, looked up by exact path.

#include <array>
#include <cstdint>
#include <string_view>

namespace smart::edge {

enum class route : std::uint8_t {
  smart,
  first,
  all,
  within_timeout,
  healthz,
  readyz,
  metrics,
  openapi,
  docs,         // the documentation page (Swagger UI)
  docs_script,  // its start-up script
  swagger_js,   // Swagger UI itself, vendored (docs/swagger-ui/dist)
  swagger_css,
  not_found,  // any other path
};

inline constexpr std::array all_routes = {
    route::smart,    route::first,       route::all,        route::within_timeout,
    route::healthz,  route::readyz,      route::metrics,    route::openapi,
    route::docs,     route::docs_script, route::swagger_js, route::swagger_css,
    route::not_found};

// The exact path of a route; "other" for not_found (a bounded metric label).
std::string_view path_of(route r);

// The route for a path (the request-target without its query).
route find_route(std::string_view path);

// Routes that serve a document embedded in the program: answered with an
// ETag, and 304 when the client has it already.
constexpr bool is_document(route r) {
  return r == route::openapi || r == route::docs || r == route::docs_script ||
         r == route::swagger_js || r == route::swagger_css;
}

// Routes that call the upstream: admitted under --max-inflight.
constexpr bool is_api(route r) {
  return r == route::smart || r == route::first || r == route::all || r == route::within_timeout;
}

}  // namespace smart::edge
