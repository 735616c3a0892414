#include "smart/edge/server.hpp"

#include "smart/config.hpp"
#include "smart/edge/access_log.hpp"
#include "smart/edge/handlers.hpp"
#include "smart/edge/request_head.hpp"
#include "smart/edge/request_id.hpp"
#include "smart/edge/stats.hpp"
#include "smart/edge/target.hpp"
#include "smart/hedge/tuning.hpp"
#include "smart/io/http_feed.hpp"
#include "smart/io/tracked_read.hpp"
#include "smart/net.hpp"
#include "smart/trace/context.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace smart::edge {

namespace {

using net::use_awaitable;
constexpr auto use_tuple = net::as_tuple(use_awaitable);

// Bytes a single read may take: requests and answers are small, and every
// connection keeps a buffer of this size for as long as it lives.
constexpr std::size_t read_chunk = 1024;
constexpr std::size_t buffer_limit = 16 * 1024;
// Client timeouts are enforced by a sweep at this period (see server::impl::sweep).
constexpr auto sweep_period = std::chrono::milliseconds{100};
// When closing after an unread request body, drain at most this much.
constexpr std::size_t linger_limit = 256 * 1024;
constexpr auto linger_time = std::chrono::seconds{2};
// A client's connection is watched for its departure once a race has lasted
// this long: most answers come sooner, and a departure is then noticed
// within a few milliseconds at worst.
constexpr auto watch_grace = std::chrono::milliseconds{5};

// What a client connection that became readable holds: bytes (its next
// request, early, which pipelining allows), an end of stream (the client
// closed its sending side, or the whole connection: TCP cannot tell which),
// or an error (it reset the connection).
enum class peer_state { open, end_of_stream, gone };

peer_state peek_peer(int fd) {
  char probe = 0;
  const auto n = ::recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    return peer_state::end_of_stream;
  }
  return n > 0 || errno == EAGAIN || errno == EWOULDBLOCK ? peer_state::open : peer_state::gone;
}

bool closed_by_peer(int fd) {
  return peek_peer(fd) != peer_state::open;
}

// Sent to an HTTP/1.1 client whose end of stream arrives while its request is
// being answered, to tell a half-close from a departure: a client that only
// closed its sending side reads past it (RFC 9110 §15.2: clients parse 1xx
// responses they did not expect), while the TCP stack of one that closed the
// whole connection answers it with a reset.
constexpr std::string_view interim_response = "HTTP/1.1 100 Continue\r\n\r\n";

std::int64_t ticks(time_point t) {
  return t.time_since_epoch().count();
}

bool client_left(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == net::error::operation_aborted || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::bad_descriptor;
}

// The addresses to listen on for a --host or --metrics-listen value: the
// address, or every address a name resolves to (once, here), as nginx does:
// `localhost` is 127.0.0.1 and ::1.
std::vector<tcp::endpoint> listen_endpoints(const std::string& host, std::uint16_t port,
                                            std::string_view option) {
  error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (!ec) {
    return {tcp::endpoint{address, port}};
  }
  net::io_context private_context;
  tcp::resolver resolver{private_context};
  const auto results = resolver.resolve(
      host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw std::invalid_argument{std::string{option} + ": cannot resolve '" + host +
                                "': " + (ec ? ec.message() : std::string{"no address"})};
  }
  std::vector<tcp::endpoint> out;
  for (const auto& entry : results) {
    if (std::find(out.begin(), out.end(), entry.endpoint()) == out.end()) {
      out.push_back(entry.endpoint());
    }
  }
  return out;
}

}  // namespace

// What the sweep shares with a connection: its client timeout, from the
// sweep's strand and the connection's. Atomics only; everything else of a
// connection is its strand's alone (session).
class session_clock {
 public:
  // Each arm or disarm starts a new generation, so that a close or a recheck
  // decided for an old one is not applied to a connection that has moved on.
  void arm(duration d) {
    generation_.fetch_add(1, std::memory_order_relaxed);
    expiry_.store(ticks(clock::now() + d), std::memory_order_relaxed);
  }
  void disarm() {
    generation_.fetch_add(1, std::memory_order_relaxed);
    expiry_.store(0, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_relaxed);
  }
  // Clock ticks when the timeout passes; 0: none running.
  [[nodiscard]] std::int64_t expiry() const { return expiry_.load(std::memory_order_relaxed); }

  // Waiting for the next request in a read that cannot see an end of stream
  // that came with the last request (see io/tracked_read.hpp): the sweep
  // checks such a connection once per wait.
  void set_waiting(bool w) { waiting_.store(w, std::memory_order_relaxed); }
  [[nodiscard]] bool waiting() const { return waiting_.load(std::memory_order_relaxed); }

  std::uint64_t probed = 0;  // the sweep's own: the generation it last checked

 private:
  std::atomic<std::int64_t> expiry_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> waiting_{false};
};

// One client connection, on its own strand (or the only I/O thread):
// run_session() owns it, the registry and the sweep hold weak references.
// Everything here but `timeout` is touched on that strand only.
struct session : std::enable_shared_from_this<session> {
  explicit session(tcp::socket s)
      : socket{std::move(s)}, buffer{buffer_limit}, race{socket.get_executor()} {}

  void close() {
    error_code ignored;
    socket.close(ignored);
  }

  // Ends the wait the connection's coroutine is in: the sweep's recheck of an
  // idle connection, or a race whose client left. Its slot is bound to the
  // coroutine (run_session), so this is Asio's own per-operation
  // cancellation of whatever it awaits, and its cancellation state says so.
  void interrupt() { interrupter.emit(net::cancellation_type::terminal); }

  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string target;           // request-target of the current request
  std::string request_id;       // X-Request-Id as received, then as answered
  extra_fields extra;           // trace context and If-None-Match, as received
  trace::context trace;         // the request's trace: continued or new
  std::string_view tracestate;  // passed on with it (in extra), or empty
  std::string head;             // serialised response head
  hedge::race_workspace race;   // reused by this connection's requests, one at a time
  session_clock timeout;        // shared with the sweep
  net::cancellation_signal interrupter;
  bool recheck = false;  // the sweep interrupted the idle wait to look again
  // Waiting for the next request on a connection that has already been
  // served (a fresh connection gets to send its first request).
  bool idle = false;
  int served = 0;
  bool http11 = true;        // the request being answered is HTTP/1.1 (1xx may be sent)
  bool half_closed = false;  // its client closed its sending side (the last response)
  std::list<std::weak_ptr<session>>::iterator registry_entry;
};

namespace {

// Watches a racing request's client (the race's client_watch): waits for its
// connection to become readable, which costs no system call until something
// arrives. An end of stream from an HTTP/1.1 client gets the interim response
// above; only a reset after it (or an end of stream from an HTTP/1.0 client,
// which may not be sent a 1xx) is a departure, which interrupts the race.
// Ends at once when the race cancels it.
net::awaitable<void> watch_client(std::shared_ptr<session> s) {
  co_await net::this_coro::throw_if_cancelled(false);
  auto [ec] = co_await s->socket.async_wait(tcp::socket::wait_read, use_tuple);
  if (ec == net::error::operation_aborted) {
    co_return;  // the race is over
  }
  auto state = ec ? peer_state::gone : peek_peer(s->socket.native_handle());
  if (state == peer_state::end_of_stream && s->http11 && !s->half_closed) {
    s->half_closed = true;
    error_code write_ec;
    const auto sent = write_now(s->socket, net::buffer(interim_response), write_ec);
    if (!write_ec && sent == interim_response.size()) {
      std::tie(ec) = co_await s->socket.async_wait(tcp::socket::wait_error, use_tuple);
      if (ec == net::error::operation_aborted) {
        co_return;
      }
    }
    state = peer_state::gone;  // (a partial interim response cannot be completed either)
  }
  // The race may have been decided while this coroutine was about to
  // resume: then it is cancelled already, and the client is no concern.
  const auto cs = co_await net::this_coro::cancellation_state;
  if (state != peer_state::open && cs.cancelled() == net::cancellation_type::none) {
    s->interrupt();
  }
}

// A request as read, and what the edge made of it: what serve_one() passes
// from reading to answering.
struct reply {
  response resp;
  route r = route::not_found;
  std::string_view method = "-";  // for the access log
  std::string_view query;         // an API route's query, for its race (in session::target)
  bool race = false;              // an API route that passed the checks: answer_api() decides
  bool keep_alive = false;
  bool head_only = false;    // HEAD: the headers without the body
  bool http10 = false;       // an HTTP/1.0 client needs an explicit keep-alive
  bool drain_body = false;   // a request body was left unread: linger before closing
  bool client_gone = false;  // the client left during the race (499)
  int attempts = 0;          // for the access log
  int winner = 0;
  // What send_now() could not write at once (the socket's buffer was full).
  std::array<net::const_buffer, 2> buffers{};
  std::size_t unwritten = 0;
  error_code write_ec;
};

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(net::io_context& context, const config& c, edge_stats& stats, hedge::race_stats& rs,
       hedge::attempt_fn fn, hedge::hedge_tuning& t, listener_role r)
      : ioc{context},
        cfg{c},
        role{r},
        m{stats},
        race_stats{rs},
        attempt{std::move(fn)},
        tuning{t},
        access{c.log_json},
        strand{net::make_strand(context)},
        sweep_timer{strand} {}

  net::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  net::awaitable<void> sweep();
  net::awaitable<void> run_session(std::shared_ptr<session> s);
  // One request, read and answered. Returns whether the connection goes on.
  net::awaitable<bool> serve_one(session& s);
  // Its steps. Only what must wait is a coroutine (each is a frame and a
  // resumption on every request); the usual request runs the others as plain
  // calls.
  bool begin_wait(session& s);
  bool end_wait(session& s, const error_code& ec, std::size_t n);
  net::awaitable<error_code> read_rest_of_head(session& s, request_head& parser);
  reply check_request(session& s, const request_head& parser, error_code read_ec);
  net::awaitable<void> answer_api(session& s, time_point start, reply& out);
  void send_now(session& s, reply& out, duration elapsed);
  bool finish_reply(session& s, const reply& out, duration elapsed);
  net::awaitable<void> linger_close(session& s);
  void forget(session& s);
  void refuse(tcp::socket& socket);

  // Whether this listener answers a route (the others are 404 here).
  [[nodiscard]] bool serves(route r) const {
    switch (role) {
      case listener_role::all:
        return true;
      case listener_role::api:
        return r != route::metrics;
      case listener_role::admin:
        return r == route::metrics || r == route::healthz || r == route::readyz;
    }
    return false;
  }

  net::io_context& ioc;
  const config& cfg;
  listener_role role;
  edge_stats& m;
  hedge::race_stats& race_stats;
  hedge::attempt_fn attempt;
  hedge::hedge_tuning& tuning;
  access_log access;

  net::strand<net::io_context::executor_type> strand;  // acceptors and sweep
  std::list<tcp::acceptor> acceptors;                  // one per address listened on
  net::steady_timer sweep_timer;
  std::uint16_t bound_port = 0;

  std::atomic<bool> shutting_down{false};
  std::atomic<int> api_inflight{0};
  std::function<void()> drained_callback;

  std::mutex sessions_mu;
  std::list<std::weak_ptr<session>> sessions;
};

namespace {

// A place under --max-inflight, held for one API request.
class admission {
 public:
  admission(std::atomic<int>& inflight, int limit) : inflight_{inflight} {
    admitted_ = inflight_.fetch_add(1, std::memory_order_relaxed) < limit;
    if (!admitted_) {
      inflight_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  ~admission() {
    if (admitted_) {
      inflight_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  admission(const admission&) = delete;
  admission& operator=(const admission&) = delete;

  [[nodiscard]] bool admitted() const { return admitted_; }

 private:
  std::atomic<int>& inflight_;
  bool admitted_ = false;
};

}  // namespace

net::awaitable<void> server::impl::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  net::steady_timer backoff{strand};
  for (;;) {
    // With one I/O thread there is nothing to serialise: strands would only
    // add a hop to every completion.
    const net::any_io_executor session_executor = cfg.threads > 1
                                                      ? net::any_io_executor{net::make_strand(ioc)}
                                                      : net::any_io_executor{ioc.get_executor()};
    auto [ec, socket] = co_await acceptor.async_accept(session_executor, use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) {
        break;
      }
      // Out of descriptors or memory: back off rather than spin.
      spdlog::error("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds{50});
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    // A connection accepted here is served, even if a shutdown has just
    // begun: its client may already have sent a request.
    error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    socket.non_blocking(true, ignored);  // lets serve_one() write without the reactor
    bool full = false;
    std::shared_ptr<session> s;
    {
      std::lock_guard lock{sessions_mu};
      full = std::cmp_greater_equal(sessions.size(), cfg.max_connections);
      if (!full) {
        s = std::make_shared<session>(tcp::socket{std::move(socket)});
        s->registry_entry = sessions.insert(sessions.end(), s);
      }
    }
    if (full) {
      refuse(socket);
      continue;
    }
    m.connection_opened();
    // The session's interrupter is bound to its coroutine (session::interrupt).
    net::co_spawn(s->socket.get_executor(), run_session(s),
                  net::bind_cancellation_slot(s->interrupter.slot(), net::detached));
    if (shutting_down.load()) {
      break;
    }
  }
}

// Closes connections whose client timeout passed (idle keep-alive, slow
// headers, unread responses). One coarse sweep instead of a timer per
// operation: cheap per request, and precise enough for timeouts of seconds.
net::awaitable<void> server::impl::sweep() {
  auto self = shared_from_this();
  for (;;) {
    sweep_timer.expires_after(sweep_period);
    co_await sweep_timer.async_wait(use_tuple);
    const auto now = ticks(clock::now());
    std::unique_lock lock{sessions_mu};
    if (shutting_down.load() && sessions.empty()) {
      lock.unlock();
      if (drained_callback) {
        drained_callback();
      }
      break;
    }
    for (const auto& weak : sessions) {
      auto s = weak.lock();
      if (!s) {
        continue;
      }
      auto& timeout = s->timeout;
      const auto generation = timeout.generation();
      const auto due = timeout.expiry();
      if (due != 0 && now > due) {
        net::post(s->socket.get_executor(), [s, generation] {
          if (s->timeout.generation() == generation) {
            s->close();
          }
        });
      } else if (timeout.waiting() && timeout.probed != generation) {
        // A client that closed its side right after its last request: its
        // end of stream is noticed here, within a sweep period or two. The
        // wait is interrupted, not the connection closed: its read may have
        // completed already (with a request), and only serve_one() knows.
        timeout.probed = generation;
        net::post(s->socket.get_executor(), [s, generation] {
          if (s->timeout.generation() == generation && s->timeout.waiting() &&
              closed_by_peer(s->socket.native_handle())) {
            s->recheck = true;
            s->interrupt();
          }
        });
      }
    }
  }
}

void server::impl::refuse(tcp::socket& socket) {
  // Past --max-connections: a short answer, then the connection is closed,
  // rather than a client left waiting in the listen queue.
  m.connection_rejected();
  std::string id;
  generate_request_id(id);
  auto resp = error_response(503, "overloaded", "too many connections; retry shortly");
  resp.retry_after = 1;
  std::string head;
  serialize_head(resp, {id, false, false}, head);
  const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(resp.payload())};
  error_code ignored;
  write_now(socket, buffers, ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

void server::impl::forget(session& s) {
  m.connection_closed();
  std::lock_guard lock{sessions_mu};
  sessions.erase(s.registry_entry);
  if (sessions.empty() && shutting_down.load()) {
    // The last connection of a drain: let the sweep end now, not at its next tick.
    net::post(strand, [self = shared_from_this()] { self->sweep_timer.cancel(); });
  }
}

net::awaitable<void> server::impl::linger_close(session& s) {
  // The client may still be sending a body we did not read; closing now
  // would reset the connection and could destroy our response in flight.
  error_code ec;
  s.socket.shutdown(tcp::socket::shutdown_send, ec);
  s.timeout.arm(linger_time);
  std::size_t drained = 0;
  std::array<char, 4096> sink{};
  std::size_t n = 0;
  while (!ec && drained < linger_limit) {
    std::tie(ec, n) =
        co_await async_read_next(s.socket, net::buffer(sink), n == sink.size(), use_tuple);
    drained += n;
  }
  s.timeout.disarm();
}

net::awaitable<void> server::impl::run_session(std::shared_ptr<session> s) {
  // Whatever happens below, the connection is closed and unregistered.
  struct cleanup {
    cleanup(server::impl& i, session& x) : srv{i}, s{x} {}
    server::impl& srv;
    session& s;
    cleanup(const cleanup&) = delete;
    cleanup& operator=(const cleanup&) = delete;
    ~cleanup() {
      s.timeout.disarm();
      s.close();
      srv.forget(s);
    }
  } guard{*this, *s};

  // An interruption (session::interrupt) is read from the cancellation
  // state where it matters; it never turns an await into an exception.
  co_await net::this_coro::throw_if_cancelled(false);
  try {
    while (co_await serve_one(*s)) {
    }
  } catch (const std::exception& e) {
    spdlog::error("{} connection dropped after an internal error: {}", s->request_id, e.what());
  }
  if (s->race.busy()) {
    // An exception left a race's attempts running: stop them and wait, so
    // that none outlives the connection.
    co_await hedge::finish_race(s->race);
  }
}

net::awaitable<bool> server::impl::serve_one(session& s) {
  // --header-timeout-ms bounds the whole head: for a connection's first
  // request from its accept, for a later one from its first byte (after an
  // idle keep-alive wait) or from the previous response (pipelined).
  const bool head_clock_running = s.buffer.size() == 0 && s.served == 0;
  if (s.buffer.size() == 0) {
    // Wait for the first byte of the next request.
    if (!begin_wait(s)) {
      co_return false;
    }
    auto [ec, n] = co_await async_read_reply(s.socket, s.buffer.prepare(read_chunk), use_tuple);
    if (s.recheck) {
      // The sweep saw an end of stream and interrupted the wait (unless the
      // read had completed just before): read it, or what came before it.
      // The interruption is spent here, not left for the next race to find.
      co_await net::this_coro::reset_cancellation_state();
      if (ec == net::error::operation_aborted) {
        std::tie(ec, n) =
            co_await async_read_more(s.socket, s.buffer.prepare(read_chunk), use_tuple);
      }
    }
    if (!end_wait(s, ec, n)) {
      co_return false;
    }
  }

  // Read the head: usually whole in what has arrived already.
  if (!head_clock_running) {
    s.timeout.arm(cfg.header_timeout);
  }
  request_head parser{s.target, s.request_id, &s.extra};
  auto read_ec = feed(parser, s.buffer);
  if (read_ec == http::error::need_more) {
    read_ec = co_await read_rest_of_head(s, parser);
  }
  const auto start = clock::now();
  s.timeout.disarm();
  if (read_ec && client_left(read_ec)) {
    co_return false;  // the client left (or timed out) without a complete request
  }
  ++s.served;
  m.request_started();

  // Dispatch: the checks and the route, then for an API route the race.
  auto out = check_request(s, parser, read_ec);
  if (out.race) {
    co_await answer_api(s, start, out);
  }

  // Write what the socket takes at once, then stop what the race left
  // running, then the rest of the answer if the socket was full.
  const auto elapsed = clock::now() - start;
  send_now(s, out, elapsed);
  if (s.race.busy()) {
    co_await hedge::finish_race(s.race);
  }
  if (out.unwritten > 0) {
    beast::buffers_suffix<std::array<net::const_buffer, 2>> rest{out.buffers};
    rest.consume(net::buffer_size(out.buffers) - out.unwritten);
    s.timeout.arm(cfg.header_timeout);  // a client that does not read its response is dropped
    std::tie(out.write_ec, std::ignore) = co_await net::async_write(s.socket, rest, use_tuple);
    s.timeout.disarm();
  }
  if (finish_reply(s, out, elapsed)) {
    co_return true;
  }
  if (out.drain_body && !out.write_ec && !out.client_gone) {
    co_await linger_close(s);
  }
  co_return false;
}

// Before the wait for a request: false when there is to be none (a drain).
// While shutting down, requests already received are still answered.
bool server::impl::begin_wait(session& s) {
  if (shutting_down.load() && s.served > 0) {
    return false;
  }
  s.idle = s.served > 0;
  s.timeout.arm(s.served == 0 ? cfg.header_timeout : cfg.keepalive_timeout);
  s.recheck = false;
  s.timeout.set_waiting(true);
  return true;
}

// After it: whether a request has begun to arrive.
bool server::impl::end_wait(session& s, const error_code& ec, std::size_t n) {
  s.timeout.set_waiting(false);
  s.idle = false;
  if (ec) {
    return false;
  }
  s.buffer.commit(n);
  return true;
}

// Reads the rest of a request head into `parser`. Returns its error, if any
// (a client that left, a malformed or oversized head).
net::awaitable<error_code> server::impl::read_rest_of_head(session& s, request_head& parser) {
  // A read that filled its buffer is followed at once (see async_read_next).
  bool full = false;
  error_code read_ec = http::error::need_more;
  while (read_ec == http::error::need_more) {
    auto [ec, n] =
        co_await async_read_next(s.socket, s.buffer.prepare(read_chunk), full, use_tuple);
    if (ec) {
      co_return ec == net::error::eof ? at_end_of_stream(parser) : ec;
    }
    full = n == read_chunk;
    s.buffer.commit(n);
    read_ec = feed(parser, s.buffer);
  }
  co_return read_ec;
}

// What to answer, from the head as read: the checks of HTTP/1.1, the route,
// and the answer itself unless a race must decide it (out.race). No I/O.
reply server::impl::check_request(session& s, const request_head& parser, error_code read_ec) {
  reply out;
  // Every request belongs to a trace, for the log and the upstream: its
  // client's, or a new one. A malformed traceparent never fails a request.
  const auto t = read_ec ? trace::request_trace{trace::start_trace()}
                         : trace::continue_or_start(s.extra.traceparent, s.extra.traceparent_count,
                                                    s.extra.tracestate);
  s.trace = t.ctx;
  s.tracestate = t.keep_tracestate ? std::string_view{s.extra.tracestate} : std::string_view{};
  if (read_ec) {
    generate_request_id(s.request_id);
    out.drain_body = true;
    if (read_ec == http::error::header_limit) {
      // A request line that does not even end within the limit is a URI
      // problem; otherwise the header fields are.
      out.resp = parser.has_request_line()
                     ? error_response(431, "request_too_large", "the request headers exceed 8 KiB")
                     : error_response(414, "request_too_large", "the request line exceeds 8 KiB");
    } else {
      out.resp = error_response(400, "bad_request", "the request is not valid HTTP/1.1");
    }
    return out;
  }
  if (!is_valid_request_id(s.request_id)) {
    generate_request_id(s.request_id);
  }
  out.method = parser.method_text();
  out.head_only = parser.method() == http::verb::head;
  out.http10 = parser.version() == 10;
  out.keep_alive = parser.keep_alive();
  // Any Transfer-Encoding is a body, whatever its codings.
  const bool has_body =
      parser.has_transfer_encoding() || parser.chunked() || parser.content_length().value_or(0) > 0;
  if (has_body) {
    out.keep_alive = false;  // the body is not read: the connection cannot go on
    out.drain_body = true;
  }
  const auto [path, query] = split_target(s.target);
  out.r = find_route(path);
  if (!serves(out.r)) {
    out.r = route::not_found;
  }
  const auto method = parser.method();
  if (parser.host_fields() > 1 || !parser.host_valid() ||
      (parser.host_fields() == 0 && parser.version() >= 11)) {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with
    // two or with a malformed one. The connection ends with the answer: a
    // client this confused may not frame its next request right either.
    out.resp =
        error_response(400, "bad_request", "the request needs exactly one valid Host header");
    out.keep_alive = false;
  } else if (parser.has_transfer_encoding() && !parser.chunked_final()) {
    // RFC 9112 §6.3: the final coding is not chunked, so the body's length
    // cannot be known. Beast reads such a request as having no body; the
    // bytes after its head must not run as another request.
    out.resp = error_response(400, "bad_request",
                              "a request body's Transfer-Encoding must end with chunked");
  } else if (out.r == route::not_found) {
    out.resp = not_found_response();
  } else if (method != http::verb::get && method != http::verb::head) {
    out.resp = method_not_allowed_response();
  } else if (has_body) {
    out.resp = error_response(413, "request_too_large", "requests to this service carry no body");
  } else if (is_api(out.r)) {
    s.http11 = parser.version() >= 11;
    out.query = query;
    out.race = true;
  } else {
    out.resp =
        service_response(out.r, !shutting_down.load(), m, cfg.metrics_cache, s.extra.if_none_match);
  }
  return out;
}

// An API route: the plan, admission under --max-inflight, then the race,
// watched for the client leaving unless a pipelined request shows that it
// is there.
net::awaitable<void> server::impl::answer_api(session& s, time_point start, reply& out) {
  try {
    const auto plan = plan_api(out.r, out.query, cfg);
    if (plan.reject) {
      out.resp = *plan.reject;
      co_return;
    }
    const admission place{api_inflight, cfg.max_inflight};
    if (!place.admitted()) {
      out.resp = overloaded_response();
      co_return;
    }
    auto policy = plan.policy;
    if (policy.hedge_attempts > 0) {
      policy.hedge_delay = tuning.delay(start);  // the configured delay, unless adaptive
    }
    s.race.set_request(s.request_id, &s.trace, s.tracestate);
    // The watch takes its share of the session only when it starts: most
    // races end before it does.
    const hedge::client_watch watch{[ses = &s] { return watch_client(ses->shared_from_this()); },
                                    watch_grace};
    auto race =
        co_await hedge::decide_race(s.race, policy, start, start + plan.timeout, attempt,
                                    race_stats, s.buffer.size() > 0 ? nullptr : &watch, &tuning);
    out.attempts = race.attempts_started;
    out.winner = race.winner;
    if (race.decided == hedge::verdict::pending) {
      out.client_gone = true;
      out.resp.status = 499;  // nginx's "client closed request", for the log and metrics
      co_return;
    }
    out.resp = race_response(race, plan);
  } catch (const std::exception& e) {
    spdlog::error("{} internal error: {}", s.request_id, e.what());
    out.resp = error_response(500, "internal_error", "the request could not be processed");
    out.keep_alive = false;
  }
}

// Counts the reply and writes what the socket takes at once (usually all of
// it; out.unwritten says what is left).
void server::impl::send_now(session& s, reply& out, duration elapsed) {
  if ((shutting_down.load() || s.half_closed) && s.buffer.size() == 0) {
    out.keep_alive = false;  // the last response on this connection
  }
  // Metrics are recorded before the response leaves: once a client has its
  // answer, every counter already shows it.
  m.request_finished(out.r, out.resp.status, elapsed);
  if (out.client_gone) {
    return;
  }
  serialize_head(out.resp, {s.request_id, out.keep_alive, out.http10}, s.head);
  out.buffers = {net::buffer(s.head),
                 out.head_only ? net::const_buffer{} : net::buffer(out.resp.payload())};
  const auto total = net::buffer_size(out.buffers);
  const auto written = write_now(s.socket, out.buffers, out.write_ec);
  out.unwritten = out.write_ec ? 0 : total - written;
}

// Logs the reply; returns whether the connection goes on.
bool server::impl::finish_reply(session& s, const reply& out, duration elapsed) {
  if (cfg.access_log) {
    access.write({s.request_id, &s.trace.trace, out.method, path_of(out.r), out.resp.status,
                  std::chrono::duration<double, std::milli>(elapsed).count(), out.attempts,
                  out.winner});
  }
  return !out.write_ec && !out.client_gone && out.keep_alive;
}

// ---------------------------------------------------------------------------

server::server(net::io_context& ioc, const config& cfg, edge_stats& stats,
               hedge::race_stats& race_stats, hedge::attempt_fn attempt,
               hedge::hedge_tuning& tuning, listener_role role)
    : impl_{std::make_shared<impl>(ioc, cfg, stats, race_stats, std::move(attempt), tuning, role)} {
}

server::~server() = default;

void server::start() {
  auto& i = *impl_;
  const bool admin = i.role == listener_role::admin;
  const auto endpoints =
      admin ? listen_endpoints(i.cfg.metrics_host, i.cfg.metrics_port, "--metrics-listen")
            : listen_endpoints(i.cfg.host, i.cfg.port, "--host");
  for (auto endpoint : endpoints) {
    if (i.bound_port != 0) {
      endpoint.port(i.bound_port);  // port 0: the one the first address got, for every address
    }
    auto& acceptor = i.acceptors.emplace_back(i.strand);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address{true});
    if (endpoint.address().is_v6()) {
      // ::1 and 127.0.0.1 of one name are two sockets: an IPv6 one must not
      // take the IPv4 addresses as well (and clash with the other).
      acceptor.set_option(net::ip::v6_only{endpoints.size() > 1});
    }
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    i.bound_port = acceptor.local_endpoint().port();
  }
  for (auto& acceptor : i.acceptors) {
    net::co_spawn(i.strand, i.accept_loop(acceptor), net::detached);
  }
  net::co_spawn(i.strand, i.sweep(), net::detached);
}

std::uint16_t server::port() const {
  return impl_->bound_port;
}

bool server::ready() const {
  return !impl_->shutting_down.load();
}

void server::on_drained(std::function<void()> callback) {
  impl_->drained_callback = std::move(callback);
}

void server::shutdown() {
  auto self = impl_;
  if (self->shutting_down.exchange(true)) {
    return;
  }
  net::post(self->strand, [self] {
    error_code ignored;
    for (auto& acceptor : self->acceptors) {
      acceptor.close(ignored);
    }
    self->sweep_timer.cancel();  // ends the sweep at once if nothing is connected
  });
  std::lock_guard lock{self->sessions_mu};
  for (const auto& weak : self->sessions) {
    if (auto s = weak.lock()) {
      // Idle keep-alive connections close now (unless a request is already
      // arriving); the others after their response.
      net::post(s->socket.get_executor(), [s] {
        error_code ec;
        if (s->idle && s->socket.available(ec) == 0) {
          s->close();
        }
      });
    }
  }
}

}  // namespace smart::edge
