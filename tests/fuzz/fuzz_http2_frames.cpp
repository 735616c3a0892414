// libFuzzer target: the bytes an HTTP/2 upstream sends, as the client's
// session reads them. Three exchanges are open on a session over one end of
// a socket pair; the other end delivers the input, then the end of stream.
// Whatever arrives (frames of any kind, for open, closed or unknown streams,
// malformed or truncated), every exchange must end with an outcome, the
// session must end, and nothing may crash, leak or read out of bounds. The
// first byte picks which exchanges the caller stops early (a RST_STREAM
// CANCEL meets the server's frames).

#include "../../src/upstream/connection.hpp"
#include "../../src/upstream/http2.hpp"

#include "smart/upstream/url.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace {

using namespace smart;

struct no_stats final : upstream::client_stats {
  void upstream_connection_opened(upstream::protocol /*p*/) override {}
  void upstream_connections_in_use(int /*delta*/) override {}
  void upstream_tls_handshake(bool /*resumed*/) override {}
  void upstream_streams_in_use(int delta) override { streams += delta; }
  void upstream_stream_reset() override {}
  void upstream_goaway_received() override {}
  int streams = 0;
};

// What a server says first: an empty SETTINGS frame.
constexpr std::array<std::uint8_t, 9> server_preface{0, 0, 0, 4, 0, 0, 0, 0, 0};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t stops = size > 0 ? data[0] : 0;
  if (size > 0) {
    ++data;
    --size;
  }
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    std::abort();
  }
  // The input is small (libFuzzer's -max_len): it fits the socket's buffer.
  if (::write(fds[1], server_preface.data(), server_preface.size()) < 0 ||
      (size > 0 && ::write(fds[1], data, size) < 0)) {
    std::abort();
  }
  ::shutdown(fds[1], SHUT_WR);

  net::io_context ioc;
  no_stats stats;
  auto conn = std::make_unique<upstream::connection>(ioc.get_executor(), nullptr);
  conn->plain->assign(tcp::v4(), fds[0]);  // a stream socket: all the session needs
  conn->http2 = true;
  const auto target = upstream::parse_url("http://127.0.0.1:8080/api/work");
  upstream::http2_request request{*target, 64 * 1024, std::chrono::seconds{10}};
  int ended = 0;
  auto session = upstream::http2_session::start(
      ioc.get_executor(), std::move(conn), request, stats, [] {},
      [&ended](const upstream::http2_session& /*s*/) { ++ended; });

  constexpr int exchanges = 3;
  int finished = 0;
  std::array<stop_signal, exchanges> stop;
  for (int i = 0; i < exchanges; ++i) {
    if (!session->reserve()) {
      std::abort();  // a new session takes at least three streams
    }
    net::co_spawn(
        ioc,
        [&, i]() -> net::awaitable<void> {
          bool retry = false;
          const upstream::request_fields fields{
              "fuzz", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v"};
          const auto r = co_await session->exchange(fields, stop[i], retry);
          if (r.result == upstream::outcome::success && r.body.empty()) {
            std::abort();  // a success carries its body
          }
          ++finished;
        },
        net::detached);
    if ((stops & (1U << i)) != 0) {
      net::post(ioc, [&stop, i] { stop[i].request_stop(); });
    }
  }
  ioc.run();
  if (finished != exchanges || ended != 1 || stats.streams != 0) {
    std::abort();  // an exchange or the session never ended, or a stream leaked
  }
  session.reset();
  ::close(fds[1]);
  return 0;
}
