#include "smart/edge/route.hpp"

namespace smart::edge {

namespace {

struct entry {
  std::string_view path;
  route r;
};

constexpr std::array<entry, 12> table = {{
    {"/api/smart", route::smart},
    {"/api/first", route::first},
    {"/api/all", route::all},
    {"/api/within-timeout", route::within_timeout},
    {"/healthz", route::healthz},
    {"/readyz", route::readyz},
    {"/metrics", route::metrics},
    {"/openapi.json", route::openapi},
    {"/", route::docs},
    {"/swagger-ui/init.js", route::docs_script},
    {"/swagger-ui/swagger-ui-bundle.js", route::swagger_js},
    {"/swagger-ui/swagger-ui.css", route::swagger_css},
}};

}  // namespace

std::string_view path_of(route r) {
  for (const auto& e : table) {
    if (e.r == r) {
      return e.path;
    }
  }
  return "other";
}

route find_route(std::string_view path) {
  for (const auto& e : table) {
    if (e.path == path) {
      return e.r;
    }
  }
  return route::not_found;
}

}  // namespace smart::edge
