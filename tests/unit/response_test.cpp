// Response serialisation, JSON errors and request ids (spec §4).

#include "smart/edge/response.hpp"
#include "smart/edge/handlers.hpp"
#include "smart/edge/request_id.hpp"
#include "smart/edge/route.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace smart::edge {
namespace {

TEST(Response, HeadCarriesLengthTypeIdAndDate) {
  response r;
  r.body = R"({"time": 160})";
  std::string head;
  serialize_head(r, {"abc-1", true, false}, head);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0U);
  EXPECT_NE(head.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nContent-Length: 13\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Request-Id: abc-1\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nDate: "), std::string::npos);
  EXPECT_EQ(head.find("Connection:"), std::string::npos);  // HTTP/1.1 keep-alive is implied
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST(Response, ConnectionHeaderWhenClosingOrForHttp10) {
  response r;
  std::string head;
  serialize_head(r, {"x", false, false}, head);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
  serialize_head(r, {"x", true, true}, head);
  EXPECT_NE(head.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
}

TEST(Response, DocumentsAreRevalidatedByTheirETag) {
  const auto page = document_response(route::docs, "");
  EXPECT_EQ(page.status, 200U);
  EXPECT_FALSE(page.payload().empty());
  std::string head;
  serialize_head(page, {"x", true, false}, head);
  EXPECT_NE(head.find("\r\nETag: " + std::string{page.etag} + "\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nCache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nContent-Security-Policy: default-src 'none'; script-src 'self';"),
            std::string::npos);
  EXPECT_EQ(head.find("no-store"), std::string::npos);

  const auto not_modified = document_response(route::docs, page.etag);
  EXPECT_EQ(not_modified.status, 304U);
  EXPECT_TRUE(not_modified.payload().empty());
  serialize_head(not_modified, {"x", true, false}, head);
  EXPECT_EQ(head.rfind("HTTP/1.1 304 Not Modified\r\n", 0), 0U);
  EXPECT_NE(head.find("\r\nETag: " + std::string{page.etag} + "\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);  // its 200 has another length
  EXPECT_EQ(head.find("\r\nContent-Type:"), std::string::npos);

  // JSON is not cached unless it is a document.
  EXPECT_EQ(document_response(route::openapi, "").content_type, json_type);
  EXPECT_EQ(document_response(route::openapi, "").cache_control, "no-cache");
  EXPECT_EQ(document_response(route::openapi, "W/" + std::string{page.etag}).status, 200U);
}

TEST(Response, ErrorsAreJsonWithCodeAndMessage) {
  const auto r = error_response(504, "timeout", "no \"answer\" in\n time");
  EXPECT_EQ(r.status, 504U);
  EXPECT_EQ(r.body, R"({"error":"timeout","message":"no \"answer\" in\u000a time"})");
}

TEST(Response, MethodNotAllowedNamesTheAllowedMethods) {
  const auto r = method_not_allowed_response();
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(r.allow, "GET, HEAD");
  std::string head;
  serialize_head(r, {"x", true, false}, head);
  EXPECT_NE(head.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
}

TEST(Response, OverloadedSaysWhenToRetry) {
  const auto r = overloaded_response();
  EXPECT_EQ(r.status, 503U);
  std::string head;
  serialize_head(r, {"x", true, false}, head);
  EXPECT_NE(head.find("\r\nRetry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(r.body.find(R"("error":"overloaded")"), std::string::npos);
}

TEST(RequestId, OnlySafeIdsAreEchoed) {
  EXPECT_TRUE(is_valid_request_id("abc-DEF_1.2:3"));
  EXPECT_TRUE(is_valid_request_id(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_request_id(""));
  EXPECT_FALSE(is_valid_request_id(std::string(129, 'a')));
  for (const char* bad : {"a b", "a\r\nSet-Cookie: x", "a\nb", "a\"b", "a/b", "\xc3\xa9"}) {
    EXPECT_FALSE(is_valid_request_id(bad)) << bad;
  }
}

TEST(RequestId, GeneratedIdsAreValidAndDistinct) {
  std::set<std::string> seen;
  std::string id;
  for (int i = 0; i < 1000; ++i) {
    generate_request_id(id);
    EXPECT_EQ(id.size(), 16U);
    EXPECT_TRUE(is_valid_request_id(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000U);
}

TEST(Routes, ExactPathsOnly) {
  EXPECT_EQ(find_route("/api/smart"), route::smart);
  EXPECT_EQ(find_route("/api/within-timeout"), route::within_timeout);
  EXPECT_EQ(find_route("/"), route::docs);
  EXPECT_EQ(find_route("/api/smart/"), route::not_found);
  EXPECT_EQ(find_route("/API/SMART"), route::not_found);
  EXPECT_EQ(path_of(route::not_found), "other");
  for (const auto r : all_routes) {
    if (r != route::not_found) {
      EXPECT_EQ(find_route(path_of(r)), r);
    }
  }
}

}  // namespace
}  // namespace smart::edge
