#include "smart/upstream/url.hpp"

#include <gtest/gtest.h>

namespace smart::upstream {
namespace {

TEST(Url, ParsesTheDefaultUpstream) {
  const auto u = parse_url("https://exponea-engineering-assignment.appspot.com/api/work");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "exponea-engineering-assignment.appspot.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/api/work");
  EXPECT_EQ(u->host_header(), "exponea-engineering-assignment.appspot.com");
}

TEST(Url, PortsQueriesAndAddresses) {
  const auto a = parse_url("http://127.0.0.1:9000/api/work?x=1");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->port, 9000);
  EXPECT_EQ(a->target, "/api/work?x=1");
  EXPECT_EQ(a->host_header(), "127.0.0.1:9000");

  const auto b = parse_url("HTTP://example.com");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->target, "/");
  EXPECT_EQ(b->port, 80);

  const auto c = parse_url("https://[::1]:8443/w");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->host_header(), "[::1]:8443");
}

TEST(Url, RejectsWhatCannotBeAnUpstream) {
  for (const char* text :
       {"", "example.com/api", "ftp://example.com/", "http://", "http://:80/", "http://a:0/",
        "http://a:65536/", "http://a:/", "http://user@a/", "http://a/#frag", "http://a b/",
        "http://[::1/", "http://[::1]x/", "http://[::1]:/", "http://exa mple.com/"}) {
    EXPECT_FALSE(parse_url(text)) << text;
  }
}

TEST(Url, RedactsUserInformation) {
  EXPECT_EQ(redact_userinfo("http://user:secret@host/api"), "http://***@host/api");
  EXPECT_EQ(redact_userinfo("https://secret@host:8443"), "https://***@host:8443");
  EXPECT_EQ(redact_userinfo("user:secret@host/x"), "***@host/x");
  EXPECT_EQ(redact_userinfo("http://a:b@c@host/"), "http://***@host/");
  // Nothing to hide: unchanged, including an '@' after the authority.
  EXPECT_EQ(redact_userinfo("http://host/api?to=a@b"), "http://host/api?to=a@b");
  EXPECT_EQ(redact_userinfo("5000"), "5000");
  EXPECT_EQ(redact_userinfo(""), "");
}

}  // namespace
}  // namespace smart::upstream
