#pragma once
// Reading and writing HTT/1.1 on the hot path without Beast's and Asio's
// composed operations: a message already complete in the buffer costs no
// I/O and no trip through the scheduler, each read is a single
// async_read_some the caller awaits itself, and a write that the socket
// takes at once completes at once.

#include "smart/net.hpp"

namespace smart {

// Parses what `buffer` holds and consumes it. Returns http::error::need_more
// when the parser needs more bytes, another error when the message is
// invalid, nothing when the parser has all it asked for (the header, or the
// whole message for an eager parser).
template <bool IsRequest>
error_code feed(http::basic_parser<IsRequest>& parser, beast::flat_buffer& buffer) {
  if (buffer.size() == 0) {
    return http::error::need_more;
  }
  error_code ec;
  const auto used = parser.put(buffer.data(), ec);
  buffer.consume(used);
  if (!ec && !parser.is_header_done()) {
    ec = http::error::need_more;
  }
  return ec;
}

// Whether the parser has what it asked for: the header, or the whole message
// for an eager parser.
template <bool IsRequest>
bool satisfied(const http::basic_parser<IsRequest>& parser, const error_code& ec) {
  return !ec && (!parser.eager() || parser.is_done());
}

// What a read that ends the connection means for the message: end_of_stream
// before any byte, partial_message after some (unless the message ends at the
// close).
template <bool IsRequest>
error_code at_end_of_stream(http::basic_parser<IsRequest>& parser) {
  if (!parser.got_some()) {
    return http::error::end_of_stream;
  }
  error_code ec;
  parser.put_eof(ec);
  return ec;
}

// Writes what the socket accepts at once, without a trip through the
// reactor; returns the bytes written (0 and no error when it would block).
template <typename Buffers>
std::size_t write_now(tcp::socket& socket, const Buffers& buffers, error_code& ec) {
  const auto n = socket.write_some(buffers, ec);
  if (ec == net::error::would_block || ec == net::error::try_again) {
    ec = {};
  }
  return n;
}

}  // namespace smart
