// The request-target and the Host field (RFC 9112 §3.2, §3.2.2).

#include "smart/edge/target.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <utility>

namespace smart::edge {
namespace {

void expect_split(std::string_view target, std::string_view path, std::string_view query) {
  const auto parts = split_target(target);
  EXPECT_EQ(parts.path, path) << target;
  EXPECT_EQ(parts.query, query) << target;
}

TEST(Target, OriginFormSplitsAtTheFirstQuestionMark) {
  expect_split("/api/smart?timeout=5", "/api/smart", "timeout=5");
  expect_split("/api/smart", "/api/smart", "");
  expect_split("/api/smart?", "/api/smart", "");
  expect_split("/a?b?c", "/a", "b?c");
  expect_split("/", "/", "");
}

TEST(Target, AbsoluteFormIsRoutedByItsPath) {
  expect_split("http://localhost:8000/api/smart?timeout=5", "/api/smart", "timeout=5");
  expect_split("HTTP://Example.COM/healthz", "/healthz", "");
  expect_split("https://x/metrics", "/metrics", "");
  expect_split("http://host", "/", "");
  expect_split("http://host?timeout=5", "/", "timeout=5");
  expect_split("http://[::1]:8000/api/all?timeout=1", "/api/all", "timeout=1");
}

TEST(Target, OtherFormsMatchNoRoute) {
  expect_split("*", "*", "");
  expect_split("localhost:8000", "localhost:8000", "");
  expect_split("ftp://host/api/smart", "ftp://host/api/smart", "");
  expect_split("api/smart", "api/smart", "");
}

TEST(Target, HostValues) {
  for (const auto* ok : {"localhost", "localhost:8000", "127.0.0.1", "127.0.0.1:80", "[::1]",
                         "[::1]:8000", "example.com", "a-b_c~d.e", "x%41y", "", ":8000"}) {
    EXPECT_TRUE(valid_host(ok)) << ok;
  }
  for (const auto* bad : {"exa mple.com", "a/b", "host:80x", "a:b:c", "[::1", "[::1]x", "[::1]:80x",
                          "[]", "x%4", "x%zz", "host@evil", "a\"b"}) {
    EXPECT_FALSE(valid_host(bad)) << bad;
  }
}

}  // namespace
}  // namespace smart::edge
