#include "http1.hpp"

#include "smart/build_info.hpp"
#include "smart/io/http_feed.hpp"
#include "smart/io/tracked_read.hpp"
#include "smart/upstream/payload.hpp"
#include "smart/upstream/quick_response.hpp"

#include <array>
#include <cstdint>
#include <type_traits>

namespace smart::upstream {

namespace {

using net::use_awaitable;
constexpr auto use_tuple = net::as_tuple(use_awaitable);

constexpr std::uint32_t response_header_limit = 16 * 1024;
// Interim (1xx) responses skipped before a final one; more fail the attempt.
constexpr int max_interim_responses = 8;
// Bytes a single read may take: requests and answers are small, and every
// connection keeps a buffer of this size for as long as it lives.
constexpr std::size_t read_chunk = 1024;
constexpr std::string_view crlf = "\r\n";

// One read of a response. On plain TCP, `recv_now` is set for the first read
// (which skips the empty recv() that would follow the request) and after a
// read that filled its buffer; see tracked_read.hpp.
template <typename Stream>
auto read_some(Stream& stream, net::mutable_buffer buffer, bool recv_now) {
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    return async_read_next(stream, buffer, recv_now, use_tuple);
  } else {
    return stream.async_read_some(buffer, use_tuple);
  }
}

// Reads one response, keeping only the status and the body: no header map is
// built, so a successful exchange allocates nothing beyond a large body.
class response_reader final : public http::basic_parser<false> {
 public:
  response_reader(std::string& body, std::size_t limit) : body_{body} {
    body_limit(limit);
    header_limit(response_header_limit);
    eager(true);  // the body too, not just the header
  }

  [[nodiscard]] unsigned status() const { return status_; }

 private:
  void on_request_impl(http::verb /*method*/, beast::string_view /*method_str*/,
                       beast::string_view /*target*/, int /*version*/,
                       error_code& /*ec*/) override {}
  void on_response_impl(int code, beast::string_view /*reason*/, int /*version*/,
                        error_code& /*ec*/) override {
    status_ = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field name, beast::string_view /*name_string*/,
                     beast::string_view /*value*/, error_code& ec) override {
    // Transfer-Encoding and Content-Length together may be a response split
    // in two (RFC 9112 §6.3): Beast rejects them only when the coding is
    // chunked; any other coding would have it trust the length.
    transfer_encoding_ = transfer_encoding_ || name == http::field::transfer_encoding;
    content_length_ = content_length_ || name == http::field::content_length;
    if (transfer_encoding_ && content_length_) {
      ec = http::error::bad_transfer_encoding;
    }
  }
  void on_header_impl(error_code& /*ec*/) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         error_code& /*ec*/) override {
    if (length) {
      // basic_parser has already rejected a length over the body limit.
      body_.reserve(static_cast<std::size_t>(*length));
    }
  }
  std::size_t on_body_impl(beast::string_view data, error_code& /*ec*/) override {
    body_.append(data.data(), data.size());
    return data.size();
  }
  void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                            error_code& /*ec*/) override {}
  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view data,
                                 error_code& /*ec*/) override {
    body_.append(data.data(), data.size());
    return data.size();
  }
  void on_finish_impl(error_code& /*ec*/) override {}

  std::string& body_;
  unsigned status_ = 0;
  bool transfer_encoding_ = false;
  bool content_length_ = false;
};

outcome classify(const error_code& ec) {
  if (ec == net::error::operation_aborted) {
    return outcome::cancelled;
  }
  if (ec == http::error::body_limit) {
    return outcome::invalid_body;
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
      ec == ssl::error::stream_truncated) {
    return outcome::reset;
  }
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return outcome::protocol_error;
  }
  if (ec.category() == net::error::get_ssl_category()) {
    return outcome::tls_error;
  }
  return outcome::reset;
}

}  // namespace

http1_exchange::http1_exchange(const url& target, std::size_t body_limit)
    : body_limit_{body_limit} {
  request_ = "GET " + target.target + " HTTP/1.1\r\nHost: " + target.host_header() +
             "\r\nUser-Agent: smart-api/" + std::string{build_info::version()} +
             "\r\nAccept: application/json\r\nConnection: keep-alive\r\n";
}

net::awaitable<attempt_result> http1_exchange::run(connection& c, const request_fields& fields,
                                                   stop_signal& stop, ending& end) const {
  // (No co_await inside a conditional expression: g++ 12 miscompiles it.)
  if (!c.tls) {
    co_return co_await run_on(*c.plain, c, fields, stop, end);
  }
  auto r = co_await run_on(*c.tls, c, fields, stop, end);
  end.reusable = end.reusable && !c.tls_has_unread();
  co_return r;
}

template <typename Stream>
net::awaitable<attempt_result> http1_exchange::run_on(Stream& stream, connection& c,
                                                      const request_fields& fields,
                                                      stop_signal& stop, ending& end) const {
  end = {};
  // The fixed request with the attempt's fields spliced in before the final
  // empty line: one buffer sequence, one system call. Fields left out are
  // empty buffers.
  using request_bytes = std::array<net::const_buffer, 11>;
  request_bytes bytes{};
  std::size_t used = 0;
  bytes[used++] = net::buffer(request_);
  const auto add = [&](std::string_view name, std::string_view value) {
    if (!value.empty()) {
      bytes[used++] = net::buffer(name);
      bytes[used++] = net::buffer(value);
      bytes[used++] = net::buffer(crlf);
    }
  };
  add("X-Request-Id: ", fields.request_id);
  add("traceparent: ", fields.traceparent);
  add("tracestate: ", fields.tracestate);
  bytes[used++] = net::buffer(crlf);
  const auto total = net::buffer_size(bytes);
  error_code write_ec;
  std::size_t written = 0;
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    written = write_now(stream, bytes, write_ec);  // usually all of it
  }
  if (!write_ec && written < total) {
    beast::buffers_suffix<request_bytes> rest{bytes};
    rest.consume(written);
    std::tie(write_ec, std::ignore) = co_await net::async_write(stream, rest, use_tuple);
  }
  if (stop.stop_requested()) {
    co_return failure(outcome::cancelled, write_ec);
  }
  if (write_ec) {
    end.silent = true;
    co_return failure(classify(write_ec), write_ec);
  }
  attempt_result r;
  bool recv_now = true;  // see read_some()
  // Interim (1xx) responses are skipped, up to a bound, and the final one
  // read after them (RFC 9110 §15.2).
  for (int interim = 0;; ++interim) {
    // The usual answer takes the quick path; anything else (a 1xx among it)
    // goes to Beast with the same bytes (nothing has been consumed then).
    for (;;) {
      quick_response quick;
      const std::string_view data{static_cast<const char*>(c.buffer.data().data()),
                                  c.buffer.size()};
      const auto verdict = quick.parse(data, response_header_limit, body_limit_);
      if (verdict == quick_response::verdict::parsed) {
        r.status = quick.status;
        r.body.assign(quick.body);
        c.buffer.consume(quick.size);
        end.reusable = quick.keep_alive && c.buffer.size() == 0;
        r.result = r.status != 200            ? outcome::http_error
                   : is_valid_payload(r.body) ? outcome::success
                                              : outcome::invalid_body;
        co_return r;
      }
      if (verdict == quick_response::verdict::declined) {
        break;
      }
      auto [ec, n] = co_await read_some(stream, c.buffer.prepare(read_chunk), recv_now);
      if (ec) {
        end.silent = interim == 0 && c.buffer.size() == 0;
        const bool ended = ec == net::error::eof || ec == ssl::error::stream_truncated;
        r.error = ended ? (c.buffer.size() == 0 ? error_code{http::error::end_of_stream}
                                                : error_code{http::error::partial_message})
                        : ec;
        r.result = classify(r.error);
        co_return r;
      }
      recv_now = n == read_chunk;
      c.buffer.commit(n);
    }
    r.body.clear();
    response_reader reader{r.body, body_limit_};
    auto read_ec = feed(reader, c.buffer);
    while (read_ec == http::error::need_more || (!read_ec && !satisfied(reader, read_ec))) {
      auto [ec, n] = co_await read_some(stream, c.buffer.prepare(read_chunk), recv_now);
      if (ec == net::error::eof || ec == ssl::error::stream_truncated) {
        read_ec = at_end_of_stream(reader);
        break;
      }
      if (ec) {
        read_ec = ec;
        break;
      }
      recv_now = n == read_chunk;
      c.buffer.commit(n);
      read_ec = feed(reader, c.buffer);
    }
    r.status = reader.status();
    if (read_ec) {
      end.silent = interim == 0 && !reader.got_some();
      r.result = classify(read_ec);
      r.error = read_ec;
      co_return r;
    }
    if (r.status / 100 == 1) {
      if (r.status == 101 || interim == max_interim_responses) {
        // 101: the upstream switched protocols on a plain GET; or an endless
        // stream of 1xx. Neither is an answer, and the connection is done.
        r.result = outcome::protocol_error;
        co_return r;
      }
      continue;
    }
    end.reusable = reader.keep_alive() && c.buffer.size() == 0;
    if (r.status != 200) {
      r.result = outcome::http_error;
    } else if (!is_valid_payload(r.body)) {
      r.result = outcome::invalid_body;
    } else {
      r.result = outcome::success;
    }
    co_return r;
  }
}

}  // namespace smart::upstream
