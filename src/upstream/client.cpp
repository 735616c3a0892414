#include "smart/upstream/client.hpp"

#include "smart/build_info.hpp"
#include "smart/clock.hpp"
#include "smart/io/http_feed.hpp"
#include "smart/io/tracked_read.hpp"
#include "smart/net.hpp"
#include "smart/stop.hpp"
#include "smart/upstream/payload.hpp"
#include "smart/upstream/quick_response.hpp"
#include "smart/upstream/stats.hpp"
#include "smart/upstream/url.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace smart::upstream {

namespace {

using net::use_awaitable;
constexpr auto use_tuple = net::as_tuple(use_awaitable);

// A pooled connection idle for longer than this is closed rather than reused:
// upstreams commonly drop idle keep-alive connections after 5-60 s.
constexpr auto idle_max_age = std::chrono::seconds{20};
constexpr auto resolve_refresh = std::chrono::seconds{30};
constexpr auto resolve_retry = std::chrono::seconds{1};
constexpr std::uint32_t response_header_limit = 16 * 1024;
// Interim (1xx) responses skipped before a final one; more fail the attempt.
constexpr int max_interim_responses = 8;
// Bytes a single read may take: requests and answers are small, and every
// connection keeps a buffer of this size for as long as it lives.
constexpr std::size_t read_chunk = 1024;

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

// One upstream connection. Its sockets use the io_context's plain executor,
// not a strand: completions run on the executor of whichever coroutine holds
// the connection, and the pool hands a connection to one holder at a time.
struct connection {
  connection(const net::any_io_executor& ex, ssl::context* tls_context) {
    if (tls_context != nullptr) {
      tls.emplace(ex, *tls_context);
    } else {
      plain.emplace(ex);
    }
  }

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  void close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  time_point idle_since{};
  duration handshake{};  // how long the TCP connect took: about one round trip
  bool reused = false;   // has carried an exchange before this lease
};

using connection_ptr = std::unique_ptr<connection>;

// How soon after the request a failure on a reused connection can still be
// the upstream's close of that idle connection crossing our request: a few
// round trips, estimated by the connection's TCP handshake (which no server
// application delays), and never less than 10 ms. A failure later than that
// came after the upstream took the request.
duration stale_window(const connection& c) {
  return std::max<duration>(std::chrono::milliseconds{10}, 3 * c.handshake);
}

// Whether an idle pooled connection can carry another request. Its last
// exchange ended exactly at a message boundary with nothing unread (or it
// would not be in the pool); it is reused only if nothing has arrived since
// either, checked with one non-blocking peek that consumes nothing. Bytes
// after a complete answer can only be a late part of some earlier exchange
// (or, on TLS, a close_notify), and read as the start of the next answer
// they would hand a request another's response; an end of stream is the
// upstream's close of the idle connection. Either way it is closed.
bool looks_alive(connection& c, time_point now) {
  if (now - c.idle_since > idle_max_age) {
    return false;
  }
  char probe = 0;
  const auto n = ::recv(c.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Whether TLS holds bytes the last exchange did not use: decrypted ones, or
// received records not yet decrypted (in OpenSSL's buffers, or in the memory
// BIO through which Asio feeds it). No system call; the socket itself is
// peeked by looks_alive() when the connection is next taken.
bool tls_has_unread(ssl::stream<tcp::socket>& tls) {
  SSL* const handle = tls.native_handle();
  return SSL_pending(handle) > 0 || SSL_has_pending(handle) == 1 ||
         BIO_ctrl_pending(SSL_get_rbio(handle)) > 0;
}

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

attempt_result failure(outcome o, error_code ec = {}) {
  attempt_result r;
  r.result = o;
  r.error = ec;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------
// The connection pool: idle connections (most recently used first) and a cap
// on open connections. Shared by all I/O threads behind one mutex that is
// held only for a few pointer moves.
class pool {
 public:
  pool(int cap, client_stats& stats) : cap_{cap}, stats_{stats} {}

  // A lease: an idle connection, or (null) the right to open a new one.
  // Nothing when none is free at once (try_acquire), or when stopped while
  // waiting for one (acquire).
  std::optional<connection_ptr> try_acquire();
  net::awaitable<std::optional<connection_ptr>> acquire(stop_signal& stop);

  // Returns a healthy connection for reuse (or hands it to a waiter).
  void give_back(connection_ptr c);
  // Ends a lease without a reusable connection: closes c (if any) and frees
  // its slot for a waiter or a future connection.
  void forget(connection_ptr c);

  void stop();
  bool stopped() const {
    std::lock_guard lock{mu_};
    return stopped_;
  }
  std::size_t idle() const {
    std::lock_guard lock{mu_};
    return idle_.size();
  }

 private:
  struct waiter {
    explicit waiter(const net::any_io_executor& ex) : wake{ex, time_point::max()} {}
    net::steady_timer wake;  // cancelled (on the waiter's executor) to wake it
    bool granted = false;    // guarded by mu_
    connection_ptr conn;     // the grant: a connection, or null for a slot
  };

  // Hands a lease to the oldest waiter; call with mu_ held. Returns the
  // waiter to wake once the lock is released.
  std::shared_ptr<waiter> grant_locked(connection_ptr c) {
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    w->granted = true;
    w->conn = std::move(c);
    return w;
  }

  static void wake(const std::shared_ptr<waiter>& w) {
    net::post(w->wake.get_executor(), [w] { w->wake.cancel(); });
  }

  const int cap_;
  client_stats& stats_;
  mutable std::mutex mu_;
  std::vector<connection_ptr> idle_;
  std::deque<std::shared_ptr<waiter>> waiters_;
  int open_ = 0;  // idle + leased + connecting
  bool stopped_ = false;
};

std::optional<connection_ptr> pool::try_acquire() {
  for (;;) {
    connection_ptr candidate;
    {
      std::lock_guard lock{mu_};
      if (!idle_.empty()) {
        candidate = std::move(idle_.back());
        idle_.pop_back();
      } else if (open_ < cap_) {
        ++open_;
      } else {
        return std::nullopt;
      }
    }
    if (!candidate) {
      stats_.upstream_connections_in_use(1);
      return connection_ptr{};
    }
    if (looks_alive(*candidate, clock::now())) {
      stats_.upstream_connections_in_use(1);
      return candidate;
    }
    candidate->close();
    std::lock_guard lock{mu_};
    --open_;
  }
}

net::awaitable<std::optional<connection_ptr>> pool::acquire(stop_signal& stop) {
  if (auto lease = try_acquire()) {
    co_return lease;
  }
  const auto executor = co_await net::this_coro::executor;
  for (;;) {
    connection_ptr candidate;
    bool new_slot = false;
    std::shared_ptr<waiter> w;
    {
      std::lock_guard lock{mu_};
      if (!idle_.empty()) {
        candidate = std::move(idle_.back());
        idle_.pop_back();
      } else if (open_ < cap_) {
        ++open_;
        new_slot = true;
      } else {
        w = std::make_shared<waiter>(executor);
        waiters_.push_back(w);
      }
    }
    if (new_slot) {
      stats_.upstream_connections_in_use(1);
      co_return connection_ptr{};
    }
    if (candidate) {
      if (looks_alive(*candidate, clock::now())) {
        stats_.upstream_connections_in_use(1);
        co_return candidate;
      }
      candidate->close();
      std::lock_guard lock{mu_};
      --open_;
      continue;
    }

    // At the cap: wait for a connection to come back or a slot to free up.
    // Woken by a grant, or by a stop request (both on this strand).
    {
      stop_callback on_stop{stop, [&w] { w->wake.cancel(); }};
      if (!stop.stop_requested()) {
        co_await w->wake.async_wait(use_tuple);
      }
    }
    connection_ptr granted;
    bool got = false;
    {
      std::lock_guard lock{mu_};
      if (w->granted) {
        got = true;
        granted = std::move(w->conn);
      } else {
        std::erase(waiters_, w);
      }
    }
    if (!got) {
      co_return std::nullopt;
    }
    stats_.upstream_connections_in_use(1);
    if (stop.stop_requested()) {
      // Granted and stopped at once: pass the lease on.
      if (granted) {
        give_back(std::move(granted));
      } else {
        forget(nullptr);
      }
      co_return std::nullopt;
    }
    if (granted && !looks_alive(*granted, clock::now())) {
      granted->close();
      granted.reset();  // keep the slot: the caller opens a fresh connection
    }
    co_return granted;
  }
}

void pool::give_back(connection_ptr c) {
  if (stopped()) {
    forget(std::move(c));  // no more reuse; the slot may still serve a waiter
    return;
  }
  stats_.upstream_connections_in_use(-1);
  c->idle_since = clock::now();
  c->reused = true;
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock{mu_};
    if (!waiters_.empty()) {
      w = grant_locked(std::move(c));
    } else {
      idle_.push_back(std::move(c));
    }
  }
  if (w) {
    wake(w);
  }
}

void pool::forget(connection_ptr c) {
  stats_.upstream_connections_in_use(-1);
  if (c) {
    c->close();
  }
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock{mu_};
    if (!waiters_.empty()) {
      w = grant_locked(nullptr);
    } else {
      --open_;
    }
  }
  if (w) {
    wake(w);
  }
}

void pool::stop() {
  std::vector<connection_ptr> closing;
  {
    std::lock_guard lock{mu_};
    stopped_ = true;
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  for (auto& c : closing) {
    c->close();
  }
}

// ---------------------------------------------------------------------------

// The upstream's addresses, shared with the thread that resolves them.
// getaddrinfo() cannot be cancelled and may wait many seconds on a DNS
// server that does not answer, so each refresh runs on a detached thread
// that nobody joins: neither a request nor a shutdown ever waits for it.
class name_cache : public std::enable_shared_from_this<name_cache> {
 public:
  std::shared_ptr<const std::vector<tcp::endpoint>> current() const {
    std::lock_guard lock{mu_};
    return endpoints_;
  }
  bool ok() const { return ok_.load(std::memory_order_relaxed); }

  void store(std::vector<tcp::endpoint> list) {
    auto shared = std::make_shared<const std::vector<tcp::endpoint>>(std::move(list));
    std::lock_guard lock{mu_};
    endpoints_ = std::move(shared);
    error_.clear();
    ok_.store(true, std::memory_order_relaxed);
  }

  // The reason the last resolution failed, once; empty if it did not.
  std::string take_error() {
    std::lock_guard lock{mu_};
    return std::exchange(error_, {});
  }

  // Resolves now, on this thread; returns why it failed (empty: stored).
  // The reason is also kept for take_error(), unless `report` is false.
  static std::string resolve(name_cache& cache, const std::string& host, const std::string& port,
                             bool report = true) noexcept {
    std::string why;
    try {
      net::io_context private_context;
      tcp::resolver resolver{private_context};
      error_code ec;
      const auto results = resolver.resolve(host, port, ec);
      if (!ec && !results.empty()) {
        std::vector<tcp::endpoint> list;
        for (const auto& entry : results) {
          list.push_back(entry.endpoint());
        }
        cache.store(std::move(list));
        return {};
      }
      why = ec ? ec.message() : std::string{"no addresses"};
      cache.ok_.store(false, std::memory_order_relaxed);
      if (report) {
        std::lock_guard lock{cache.mu_};
        cache.error_ = why;
      }
    } catch (...) {
      cache.ok_.store(false, std::memory_order_relaxed);  // out of memory: try again soon
    }
    return why.empty() ? std::string{"resolution failed"} : why;
  }

  // Starts a resolution in the background, unless one is still under way.
  void refresh(const std::string& host, const std::string& port) {
    if (busy_.exchange(true)) {
      return;
    }
    try {
      std::thread{[cache = shared_from_this(), host, port] {
        resolve(*cache, host, port);
        cache->busy_.store(false);
      }}.detach();
    } catch (...) {
      busy_.store(false);  // no thread now: the next refresh tries again
    }
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<tcp::endpoint>> endpoints_;
  std::string error_;
  std::atomic<bool> ok_{false};
  std::atomic<bool> busy_{false};
};

struct client::impl : std::enable_shared_from_this<client::impl> {
  impl(net::any_io_executor executor, client_options opts, client_stats& m)
      : ex{std::move(executor)},
        options{std::move(opts)},
        stats_{m},
        connections{options.max_connections, m},
        bg{net::make_strand(ex)},
        refresh_timer{bg} {
    auto parsed = parse_url(options.url);
    if (!parsed) {
      throw std::invalid_argument{"upstream URL " + options.url + ": " + parsed.error()};
    }
    target = *parsed;
    request = "GET " + target.target + " HTTP/1.1\r\nHost: " + target.host_header() +
              "\r\nUser-Agent: smart-api/" + std::string{build_info::version()} +
              "\r\nAccept: application/json\r\nConnection: keep-alive\r\n";
    request_with_id = request + "X-Request-Id: ";
    request += "\r\n";
    if (target.tls) {
      tls_context.emplace(ssl::context::tls_client);
      tls_context->set_default_verify_paths();
      if (!options.extra_ca_file.empty()) {
        error_code ec;
        tls_context->load_verify_file(options.extra_ca_file, ec);
        if (ec) {
          throw std::invalid_argument{"cannot load CA file " + options.extra_ca_file + ": " +
                                      ec.message()};
        }
      }
      tls_context->set_verify_mode(ssl::verify_peer);
      error_code ec;
      std::ignore = net::ip::make_address(target.host, ec);
      host_is_address = !ec;
    }
  }

  net::awaitable<attempt_result> fetch(stop_signal& stop, std::string_view request_id);
  net::awaitable<attempt_result> open(connection& c, stop_signal& stop);
  template <typename Stream>
  net::awaitable<attempt_result> exchange(Stream& stream, connection& c,
                                          std::string_view request_id, stop_signal& stop,
                                          bool& reusable, bool& silent);

  std::shared_ptr<const std::vector<tcp::endpoint>> current_endpoints() const {
    return names->current();
  }

  net::awaitable<void> refresh_names();

  net::any_io_executor ex;
  client_options options;
  client_stats& stats_;
  url target;
  // The request bytes, identical for every attempt: whole without an id; with
  // one, up to the id's value, which end_of_head follows.
  static constexpr std::string_view end_of_head = "\r\n\r\n";
  std::string request;
  std::string request_with_id;
  std::optional<ssl::context> tls_context;
  bool host_is_address = false;
  pool connections;

  // Background name resolution is paced by a timer on its own strand.
  net::strand<net::any_io_executor> bg;
  net::steady_timer refresh_timer;
  bool stopping = false;  // on bg
  std::shared_ptr<name_cache> names = std::make_shared<name_cache>();
};

net::awaitable<void> client::impl::refresh_names() {
  auto self = shared_from_this();  // keeps the impl alive while the loop runs
  const auto port = std::to_string(target.port);
  while (!stopping) {
    refresh_timer.expires_after(names->ok() ? resolve_refresh : resolve_retry);
    co_await refresh_timer.async_wait(use_tuple);
    if (stopping) {
      break;
    }
    if (const auto why = names->take_error(); !why.empty()) {
      // The last good addresses are kept; the next try comes soon.
      spdlog::warn("upstream: cannot resolve {}: {}", target.host, why);
    }
    names->refresh(target.host, port);
  }
}

net::awaitable<attempt_result> client::impl::open(connection& c, stop_signal& stop) {
  const auto eps = current_endpoints();
  if (!eps || eps->empty()) {
    co_return failure(outcome::connect_error, net::error::host_not_found);
  }
  const auto connecting = clock::now();
  auto [ec, endpoint] = co_await net::async_connect(c.socket(), *eps, use_tuple);
  c.handshake = clock::now() - connecting;
  if (stop.stop_requested()) {
    co_return failure(outcome::cancelled, ec);
  }
  if (ec) {
    co_return failure(outcome::connect_error, ec);
  }
  c.socket().set_option(tcp::no_delay{true}, ec);
  c.socket().non_blocking(true, ec);  // lets exchange() write without the reactor
  if (c.tls) {
    // SNI is for names only (RFC 6066); verification checks the name or the
    // address against the certificate.
    // (SSL_set_tlsext_host_name is a macro with a C cast; this is what it does.)
    if (!host_is_address &&
        SSL_ctrl(c.tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 static_cast<void*>(const_cast<char*>(target.host.c_str()))) != 1) {
      co_return failure(outcome::tls_error, error_code{static_cast<int>(::ERR_get_error()),
                                                       net::error::get_ssl_category()});
    }
    c.tls->set_verify_callback(ssl::host_name_verification{target.host});
    auto [hs_ec] = co_await c.tls->async_handshake(ssl::stream_base::client, use_tuple);
    if (stop.stop_requested()) {
      co_return failure(outcome::cancelled, hs_ec);
    }
    if (hs_ec) {
      co_return failure(outcome::tls_error, hs_ec);
    }
  }
  stats_.upstream_connection_opened();
  attempt_result ok;
  ok.result = outcome::success;
  co_return ok;
}

// Sends the request and reads the response on an open connection.
// `reusable`: the connection may carry another request. `silent`: it failed
// before the upstream sent a single byte (a pooled connection that had been
// closed while idle looks exactly like this).
template <typename Stream>
net::awaitable<attempt_result> client::impl::exchange(Stream& stream, connection& c,
                                                      std::string_view request_id,
                                                      stop_signal& stop, bool& reusable,
                                                      bool& silent) {
  reusable = false;
  silent = false;
  // The fixed request with the id's header field, if any, spliced in before
  // the final empty line: three buffers, one system call.
  const std::array<net::const_buffer, 3> bytes =
      request_id.empty()
          ? std::array<net::const_buffer, 3>{net::buffer(request), {}, {}}
          : std::array<net::const_buffer, 3>{net::buffer(request_with_id), net::buffer(request_id),
                                             net::buffer(end_of_head)};
  const auto total = net::buffer_size(bytes);
  error_code write_ec;
  std::size_t written = 0;
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    written = write_now(stream, bytes, write_ec);  // usually all of it
  }
  if (!write_ec && written < total) {
    beast::buffers_suffix<std::array<net::const_buffer, 3>> rest{bytes};
    rest.consume(written);
    std::tie(write_ec, std::ignore) = co_await net::async_write(stream, rest, use_tuple);
  }
  if (stop.stop_requested()) {
    co_return failure(outcome::cancelled, write_ec);
  }
  if (write_ec) {
    silent = true;
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
      const auto verdict = quick.parse(data, response_header_limit, options.body_limit);
      if (verdict == quick_response::verdict::parsed) {
        r.status = quick.status;
        r.body.assign(quick.body);
        c.buffer.consume(quick.size);
        reusable = quick.keep_alive && c.buffer.size() == 0;
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
        silent = interim == 0 && c.buffer.size() == 0;
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
    response_reader reader{r.body, options.body_limit};
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
      silent = interim == 0 && !reader.got_some();
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
    reusable = reader.keep_alive() && c.buffer.size() == 0;
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

net::awaitable<attempt_result> client::impl::fetch(stop_signal& stop, std::string_view request_id) {
  auto lease = connections.try_acquire();  // no coroutine frame in the common case
  if (!lease) {
    lease = co_await connections.acquire(stop);
  }
  if (!lease) {
    co_return failure(outcome::cancelled, net::error::operation_aborted);
  }
  connection_ptr conn = std::move(*lease);
  for (int round = 0;; ++round) {
    const bool fresh = !conn;
    if (fresh) {
      conn = std::make_unique<connection>(ex, tls_context ? &*tls_context : nullptr);
    }
    attempt_result r;
    bool reusable = false;
    bool silent = false;
    const auto sent = clock::now();
    {
      // A stop request closes the connection: whatever step is running, or
      // about to start, fails at once. (Per-operation cancellation alone can
      // miss a request that arrives between two steps.) The callback runs on
      // the caller's strand, which is this coroutine's.
      stop_callback close_on_stop{stop, [c = conn.get()] { c->close(); }};
      if (fresh) {
        r = co_await open(*conn, stop);
      }
      if (r.ok() || !fresh) {
        // (No co_await inside a conditional expression: g++ 12 miscompiles it.)
        if (conn->tls) {
          r = co_await exchange(*conn->tls, *conn, request_id, stop, reusable, silent);
        } else {
          r = co_await exchange(*conn->plain, *conn, request_id, stop, reusable, silent);
        }
      }
    }
    if (stop.stop_requested()) {
      connections.forget(std::move(conn));
      co_return failure(outcome::cancelled, r.error);
    }
    if (!fresh && silent && round == 0 && r.result == outcome::reset &&
        clock::now() - sent <= stale_window(*conn)) {
      // The upstream closed this pooled connection while it was idle. That is
      // not this attempt's failure: keep the slot, open a fresh connection.
      // (A reset after the upstream has held the request for a while is the
      // upstream failing it, and counts as this attempt's failure.)
      conn->close();
      conn.reset();
      continue;
    }
    if (reusable && conn->tls && tls_has_unread(*conn->tls)) {
      reusable = false;
    }
    if (reusable) {
      connections.give_back(std::move(conn));
    } else {
      connections.forget(std::move(conn));
    }
    co_return r;
  }
}

// ---------------------------------------------------------------------------

client::client(net::any_io_executor ex, client_options options, client_stats& m)
    : impl_{std::make_shared<impl>(std::move(ex), std::move(options), m)} {}

client::~client() = default;

void client::start() {
  auto& i = *impl_;
  error_code ec;
  const auto address = net::ip::make_address(i.target.host, ec);
  if (!ec) {
    i.names->store({tcp::endpoint{address, i.target.port}});
    return;  // an address needs no resolution
  }
  // The first resolution happens before the service accepts requests, so
  // that the first attempts do not fail for want of an address; later ones
  // refresh in the background, outside any request.
  const auto why =
      name_cache::resolve(*i.names, i.target.host, std::to_string(i.target.port), false);
  if (!why.empty()) {
    spdlog::warn("upstream: cannot resolve {} yet ({}); retrying in the background", i.target.host,
                 why);
  }
  net::co_spawn(i.bg, i.refresh_names(), net::detached);
}

void client::stop() {
  impl_->connections.stop();
  net::post(impl_->bg, [i = impl_] {
    i->stopping = true;
    i->refresh_timer.cancel();
  });
}

bool client::resolved() const {
  const auto eps = impl_->current_endpoints();
  return eps && !eps->empty();
}

net::awaitable<attempt_result> client::fetch(stop_signal& stop, std::string_view request_id) {
  return impl_->fetch(stop, request_id);
}

std::size_t client::idle_connections() const {
  return impl_->connections.idle();
}

}  // namespace smart::upstream
