// The quick response parser must agree with Beast's full parser on every
// answer it accepts, and leave everything unusual to Beast.

#include "smart/upstream/quick_response.hpp"

#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace smart::upstream {
namespace {

namespace http = boost::beast::http;

constexpr std::size_t header_limit = 16 * 1024;
constexpr std::size_t body_limit = 64 * 1024;

struct beast_view {
  unsigned status;
  bool keep_alive;
  std::string body;
  std::size_t used;
};

// Beast's verdict on the same bytes, as if the connection stayed open.
std::optional<beast_view> beast_parse(const std::string& bytes) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(header_limit);
  parser.body_limit(body_limit);
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(bytes), ec);
  if (ec || !parser.is_done()) {
    return std::nullopt;
  }
  return beast_view{parser.get().result_int(), parser.keep_alive(), parser.get().body(), used};
}

const std::vector<std::string> corpus = {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"time\": "
    "160}",
    "HTTP/1.1 200 OK\r\ncontent-length:11\r\n\r\n{\"time\": 1}",
    "HTTP/1.1 200 \r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: keep-alive, "
    "Close\r\n\r\nerror",
    "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nX-A: b\t\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\n\r\n{}",
};

TEST(QuickResponse, AgreesWithBeastOnWhatItAccepts) {
  int parsed = 0;
  for (const auto& bytes : corpus) {
    quick_response q;
    if (q.parse(bytes, header_limit, body_limit) != quick_response::verdict::parsed) {
      continue;
    }
    ++parsed;
    const auto b = beast_parse(bytes);
    ASSERT_TRUE(b) << bytes;
    EXPECT_EQ(q.status, b->status) << bytes;
    EXPECT_EQ(q.keep_alive, b->keep_alive) << bytes;
    EXPECT_EQ(q.body, b->body) << bytes;
    EXPECT_EQ(q.size, b->used) << bytes;
  }
  EXPECT_EQ(parsed, 6);  // the first six; the rest are Beast's
}

TEST(QuickResponse, DeclinesWhatIsNotTheUsualAnswer) {
  for (std::size_t i = 6; i < corpus.size(); ++i) {
    quick_response q;
    EXPECT_EQ(q.parse(corpus[i], header_limit, body_limit), quick_response::verdict::declined)
        << corpus[i];
  }
  quick_response q;
  const std::string big = "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n";
  EXPECT_EQ(q.parse(big, header_limit, body_limit), quick_response::verdict::declined);
  EXPECT_EQ(q.parse(std::string(20000, 'x'), header_limit, body_limit),
            quick_response::verdict::declined);
}

TEST(QuickResponse, AsksForMoreUntilTheBodyIsThere) {
  const std::string full = corpus[0];
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    quick_response q;
    EXPECT_EQ(q.parse(full.substr(0, cut), header_limit, body_limit),
              quick_response::verdict::need_more)
        << cut;
  }
}

TEST(QuickResponse, AgreesWithBeastOnMutations) {
  std::mt19937_64 rng{29112026};
  const std::string alphabet = "HTP/1.0 23459:\r\n\t,cClosegth-abk{}\"x\x01\x7f";
  int disagreements = 0;
  int compared = 0;
  for (int round = 0; round < 100000; ++round) {
    std::string bytes = corpus[rng() % 6];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const auto at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0:
          bytes[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                       alphabet[rng() % alphabet.size()]);
          break;
        default:
          bytes.erase(at, 1);
          break;
      }
    }
    quick_response q;
    if (q.parse(bytes, header_limit, body_limit) != quick_response::verdict::parsed) {
      continue;
    }
    ++compared;
    const auto b = beast_parse(bytes);
    const bool same = b && b->status == q.status && b->keep_alive == q.keep_alive &&
                      b->body == q.body && b->used == q.size;
    if (!same) {
      ADD_FAILURE() << "disagreement on: " << bytes;
      if (++disagreements > 10) {
        break;
      }
    }
  }
  EXPECT_GT(compared, 10000);  // enough mutations stayed acceptable to compare
}

}  // namespace
}  // namespace smart::upstream
