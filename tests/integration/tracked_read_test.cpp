// Reads that remember when they emptied the socket (tracked_read.hpp), and
// with SMART_TRACKED_READS off the plain reads in their place: they
// must never leave data or an end of stream unread, only skip a recv() that
// would find nothing.

#include "smart/io/tracked_read.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

namespace smart::testing {
namespace {

using namespace std::chrono_literals;

struct read_result {
  error_code ec;
  std::string data;
};

class TrackedRead : public ::testing::Test {
 protected:
  TrackedRead() {
    tcp::acceptor acceptor{ioc, {net::ip::address_v4::loopback(), 0}};
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(socket);
  }

  // The peer sends; on loopback the bytes are in our socket when this returns.
  void peer_sends(const std::string& bytes) { net::write(peer, net::buffer(bytes)); }

  // Lets the reactor take the events that are already there, with no read
  // waiting for them: afterwards only a read's own recv() can find that data.
  void reactor_takes_events() { ioc.poll(); }

  // Starts a read into a buffer of `size` bytes; its result lands in `out`.
  void start(bool reply, std::size_t size, std::optional<read_result>& out,
             net::cancellation_slot slot = {}) {
    buffer.assign(size, '\0');
    auto handler = net::bind_cancellation_slot(slot, [this, &out](error_code ec, std::size_t n) {
      out = read_result{ec, buffer.substr(0, n)};
    });
    if (reply) {
      async_read_reply(socket, net::buffer(buffer), std::move(handler));
    } else {
      async_read_more(socket, net::buffer(buffer), std::move(handler));
    }
  }

  // Runs until the read has completed, or fails after a generous bound.
  void finish(std::optional<read_result>& out) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!out && std::chrono::steady_clock::now() < deadline) {
      ioc.run_one_for(100ms);
    }
    ASSERT_TRUE(out) << "the read never completed";
  }

  read_result read(bool reply, std::size_t size) {
    std::optional<read_result> out;
    start(reply, size, out);
    finish(out);
    return out.value_or(read_result{});
  }

  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> guard{ioc.get_executor()};
  tcp::socket socket{ioc};
  tcp::socket peer{ioc};
  std::string buffer;
};

TEST_F(TrackedRead, AReplyReadWaitsForDataThatComesAfterTheSocketWasEmptied) {
  peer_sends("first");
  EXPECT_EQ(read(true, 64).data, "first");  // room left: the socket is empty

  std::optional<read_result> out;
  start(true, 64, out);
  ioc.poll();
  EXPECT_FALSE(out) << "completed with nothing sent";
  peer_sends("second");
  finish(out);
  EXPECT_FALSE(out->ec);
  EXPECT_EQ(out->data, "second");
}

TEST_F(TrackedRead, AReadThatFillsTheBufferLeavesTheRestToTheNextReplyRead) {
  peer_sends("abcdefgh");
  reactor_takes_events();  // no event will announce "efgh" again
  EXPECT_EQ(read(true, 4).data, "abcd");
  EXPECT_EQ(read(true, 4).data, "efgh");
}

TEST_F(TrackedRead, AMoreReadSeesAnEndOfStreamThatCameWithTheData) {
  peer_sends("abc");
  peer.shutdown(tcp::socket::shutdown_send);
  reactor_takes_events();
  EXPECT_EQ(read(true, 64).data, "abc");

#if SMART_TRACKED_READS
  // A reply read does not see this end of stream (its event is spent); that
  // is why the rest of a message is read with async_read_more().
  std::optional<read_result> reply;
  net::cancellation_signal cancel;
  start(true, 64, reply, cancel.slot());
  ioc.poll();
  EXPECT_FALSE(reply);
  cancel.emit(net::cancellation_type::terminal);
  finish(reply);
  EXPECT_EQ(reply->ec, net::error::operation_aborted);

  const auto more = read(false, 64);
  EXPECT_EQ(more.ec, net::error::eof);
#else
  // Asio's own read tries recv() first, and sees it.
  EXPECT_EQ(read(true, 64).ec, net::error::eof);
#endif
}

TEST_F(TrackedRead, AMoreReadGetsDataAlreadyThere) {
  peer_sends("first");
  EXPECT_EQ(read(true, 64).data, "first");
  peer_sends("second");
  reactor_takes_events();
  EXPECT_EQ(read(false, 64).data, "second");
}

TEST_F(TrackedRead, AResetEndsAWaitingReplyRead) {
  peer_sends("x");
  EXPECT_EQ(read(true, 64).data, "x");
  std::optional<read_result> out;
  start(true, 64, out);
  ioc.poll();
  peer.set_option(net::socket_base::linger{true, 0});
  peer.close();  // a reset
  finish(out);
  EXPECT_EQ(out->ec, net::error::connection_reset);
}

TEST_F(TrackedRead, ClosingTheSocketEndsAWaitingRead) {
  std::optional<read_result> out;
  start(true, 64, out);
  ioc.poll();
  EXPECT_FALSE(out);
  socket.close();
  finish(out);
  EXPECT_EQ(out->ec, net::error::operation_aborted);
}

TEST_F(TrackedRead, AnEmptyBufferCompletesAtOnce) {
  const auto r = read(true, 0);
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(r.data.empty());
}

TEST_F(TrackedRead, AReadOnAClosedSocketFailsAtOnce) {
  // A closed socket has no reactor registration to find its reactor through.
  error_code ignored;
  socket.close(ignored);
  for (const bool reply : {true, false}) {
    const auto r = read(reply, 16);
    EXPECT_EQ(r.ec, net::error::bad_descriptor) << r.ec.message();
  }
}

// Request and answer over many connections, with two threads running the
// reactor: every wait must end with its data.
TEST(TrackedReadThreads, ManyConnectionsOnTwoThreadsMissNothing) {
  constexpr int connections = 32;
  constexpr int rounds = 300;
  static constexpr auto tuple = net::as_tuple(net::use_awaitable);
  net::io_context ioc{2};
  tcp::acceptor acceptor{ioc, {net::ip::address_v4::loopback(), 0}};
  std::atomic<int> finished{0};

  // Reads one message of `size` bytes: the first read skips the empty recv().
  auto read_message = [](tcp::socket& s, std::string& into,
                         std::size_t size) -> net::awaitable<error_code> {
    into.assign(size, '\0');
    std::size_t got = 0;
    bool full = false;
    while (got < size) {
      auto buffer = net::buffer(into) + got;
      std::tuple<error_code, std::size_t> result;
      if (got == 0) {
        result = co_await async_read_reply(s, buffer, tuple);
      } else {
        result = co_await async_read_next(s, buffer, full, tuple);
      }
      const auto [ec, n] = result;
      if (ec) {
        co_return ec;
      }
      full = n == buffer.size();
      got += n;
    }
    co_return error_code{};
  };
  auto echo = [&](tcp::socket s) -> net::awaitable<void> {
    std::string message;
    while (!co_await read_message(s, message, 16)) {
      co_await net::async_write(s, net::buffer(message), tuple);
    }
  };
  auto client = [&](int id) -> net::awaitable<void> {
    tcp::socket s{co_await net::this_coro::executor};
    co_await s.async_connect(acceptor.local_endpoint(), tuple);
    std::string answer;
    for (int r = 0; r < rounds; ++r) {
      // 16 bytes: "cccccccc-rrrrrrr", connection and round.
      auto message =
          std::to_string(100000000 + id).substr(1) + "-" + std::to_string(10000000 + r).substr(1);
      co_await net::async_write(s, net::buffer(message), tuple);
      if (co_await read_message(s, answer, 16) || answer != message) {
        co_return;
      }
    }
    ++finished;
  };
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < connections; ++i) {
          auto [ec, s] = co_await acceptor.async_accept(net::make_strand(ioc), tuple);
          if (ec) {
            co_return;
          }
          net::co_spawn(s.get_executor(), echo(std::move(s)), net::detached);
        }
      },
      net::detached);
  for (int i = 0; i < connections; ++i) {
    net::co_spawn(net::make_strand(ioc), client(i), net::detached);
  }
  std::thread second{[&] { ioc.run_for(30s); }};
  ioc.run_for(30s);
  second.join();
  EXPECT_EQ(finished.load(), connections);
}

}  // namespace
}  // namespace smart::testing
