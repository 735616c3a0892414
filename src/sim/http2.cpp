#include "http2.hpp"

#include "behaviour.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace smart::sim {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t write_batch = 16 * 1024;
// After the session has ended cleanly (a GOAWAY drained), how long the
// client gets to close its side before the connection is closed anyway.
constexpr auto linger = std::chrono::seconds{2};

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 copies both (no NO_COPY flags) and does not write through them.
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

bool equals(const std::uint8_t* data, std::size_t len, std::string_view text) {
  return len == text.size() && std::memcmp(data, text.data(), len) == 0;
}

// One request stream, from its HEADERS until nghttp2 closes it.
struct h2_stream {
  h2_stream(const net::any_io_executor& ex, std::int32_t stream_id) : work{ex}, id{stream_id} {}

  net::steady_timer work;  // the plan's latency
  std::int32_t id;
  std::string path;
  std::string request_id;
  std::string body;  // of the response, once submitted
  std::size_t sent = 0;
  std::size_t limit = std::numeric_limits<std::size_t>::max();  // bytes before the stall
  bool stalled = false;
};

// One connection. Every member function runs on the socket's strand; the
// nghttp2 callbacks run inside mem_recv / mem_send, on it too.
class h2_connection : public std::enable_shared_from_this<h2_connection> {
 public:
  h2_connection(std::shared_ptr<site> s, std::optional<tcp::socket> plain,
                std::optional<ssl::stream<tcp::socket>> tls)
      : site_{std::move(s)},
        plain_{std::move(plain)},
        tls_{std::move(tls)},
        ex_{socket().get_executor()},
        linger_{ex_} {}

  ~h2_connection() {
    if (h2_ != nullptr) {
      nghttp2_session_del(h2_);
    }
  }
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  net::awaitable<void> run(std::string preread);

 private:
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  bool start_session();
  bool receive(const std::uint8_t* data, std::size_t n);
  void flush();
  net::awaitable<void> write_loop();
  void finish_if_done();
  void end();

  void on_request(h2_stream& s);
  void carry_out(h2_stream& s, const plan& p);
  void respond(h2_stream& s, unsigned status, std::string_view content_type, std::string body,
               bool may_stall);

  // nghttp2 callbacks; `user` is the connection.
  static h2_connection& self_of(void* user) { return *static_cast<h2_connection*>(user); }
  static int on_begin_headers(nghttp2_session* h2, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session* h2, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session* h2, const nghttp2_frame* frame, void* user);
  static int on_frame_send(nghttp2_session* h2, const nghttp2_frame* frame, void* user);
  static int on_stream_close(nghttp2_session* h2, std::int32_t stream_id, std::uint32_t error_code,
                             void* user);
  static ssize_t read_body(nghttp2_session* h2, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags,
                           nghttp2_data_source* source, void* user);

  std::shared_ptr<site> site_;
  std::optional<tcp::socket> plain_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  net::any_io_executor ex_;
  net::steady_timer linger_;
  nghttp2_session* h2_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<h2_stream>> streams_;
  std::array<std::uint8_t, read_chunk> in_{};
  std::vector<std::uint8_t> out_;
  std::uint64_t requests_ = 0;     // streams that carried a request
  std::uint64_t served_ = 0;       // /api/work answers (picks the invalid body)
  std::int32_t goaway_last_ = -1;  // the last stream processed, once GOAWAY is decided
  bool writing_ = false;
  bool closed_ = false;  // the session is over: no more mem_recv / mem_send
};

}  // namespace

namespace {

// --- callbacks ---------------------------------------------------------------

int h2_connection::on_begin_headers(nghttp2_session* /*h2*/, const nghttp2_frame* frame,
                                    void* user) {
  auto& c = self_of(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  const auto id = frame->hd.stream_id;
  c.streams_.emplace(id, std::make_unique<h2_stream>(c.ex_, id));
  c.site_->stats.open_streams(c.streams_.size());
  return 0;
}

int h2_connection::on_header(nghttp2_session* /*h2*/, const nghttp2_frame* frame,
                             const std::uint8_t* name, std::size_t namelen,
                             const std::uint8_t* value, std::size_t valuelen,
                             std::uint8_t /*flags*/, void* user) {
  auto& c = self_of(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  const auto it = c.streams_.find(frame->hd.stream_id);
  if (it == c.streams_.end()) {
    return 0;
  }
  const auto* text = reinterpret_cast<const char*>(value);
  if (equals(name, namelen, ":path")) {
    it->second->path.assign(text, valuelen);
  } else if (equals(name, namelen, "x-request-id")) {
    it->second->request_id.assign(text, valuelen);
  }
  return 0;
}

int h2_connection::on_frame_recv(nghttp2_session* /*h2*/, const nghttp2_frame* frame, void* user) {
  auto& c = self_of(user);
  auto& stats = c.site_->stats;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      // A request is complete at its END_STREAM (a GET: on its HEADERS).
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        if (const auto it = c.streams_.find(frame->hd.stream_id); it != c.streams_.end()) {
          c.on_request(*it->second);
        }
      }
      break;
    case NGHTTP2_RST_STREAM:
      count(stats.streams_reset_by_client);
      if (frame->rst_stream.error_code == NGHTTP2_CANCEL) {
        count(stats.streams_cancelled);
      }
      break;
    case NGHTTP2_GOAWAY:
      count(stats.goaways_received);
      break;
    default:
      break;
  }
  return 0;
}

int h2_connection::on_frame_send(nghttp2_session* /*h2*/, const nghttp2_frame* frame, void* user) {
  auto& stats = self_of(user).site_->stats;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    count(stats.goaways_sent);
  } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
    if (frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
      count(stats.streams_refused);  // ours beyond a GOAWAY, or nghttp2's over the stream limit
    } else if (frame->rst_stream.error_code == NGHTTP2_INTERNAL_ERROR) {
      count(stats.streams_reset);
    }
  }
  return 0;
}

int h2_connection::on_stream_close(nghttp2_session* /*h2*/, std::int32_t stream_id,
                                   std::uint32_t /*error_code*/, void* user) {
  // Destroying the stream cancels its latency timer; the timer's handler
  // finds the stream gone and does nothing.
  self_of(user).streams_.erase(stream_id);
  return 0;
}

ssize_t h2_connection::read_body(nghttp2_session* /*h2*/, std::int32_t /*stream_id*/,
                                 std::uint8_t* buf, std::size_t length, std::uint32_t* data_flags,
                                 nghttp2_data_source* source, void* user) {
  auto& s = *static_cast<h2_stream*>(source->ptr);
  const auto allowed = std::min(s.body.size(), s.limit);
  if (s.sent >= allowed && s.sent < s.body.size()) {
    // Stalled for good: nothing resumes this stream's data.
    if (!s.stalled) {
      s.stalled = true;
      count(self_of(user).site_->stats.streams_stalled);
    }
    return NGHTTP2_ERR_DEFERRED;
  }
  const auto n = std::min(length, allowed - s.sent);
  std::memcpy(buf, s.body.data() + s.sent, n);
  s.sent += n;
  if (s.sent == s.body.size()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

// --- requests ------------------------------------------------------------------

void h2_connection::on_request(h2_stream& s) {
  auto& stats = site_->stats;
  count(stats.streams);
  ++requests_;
  if (goaway_last_ >= 0 && s.id > goaway_last_) {
    // Came in with the stream that decided the GOAWAY, before it went out:
    // not processed, as the GOAWAY says, so the client may send it again.
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_REFUSED_STREAM);
    return;
  }
  const auto after = site_->wire.h2_goaway_after;
  if (after != 0 && requests_ == after) {
    // Streams up to this one are answered; the client learns that later
    // ones were not processed (RFC 9113 §6.8).
    goaway_last_ = s.id;
    nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  const std::string_view path = std::string_view{s.path}.substr(0, s.path.find('?'));
  if (path == "/healthz") {
    respond(s, 200, "application/json", R"({"status":"ok"})", false);
  } else if (path == "/stats") {
    respond(s, 200, "application/json", stats.to_json(), false);
  } else if (path != "/api/work") {
    respond(s, 404, "text/plain", "not found", false);
  } else {
    count(stats.work_requests);
    const auto p = site_->plan.next(s.request_id);
    if (p.delay.count() <= 0) {
      carry_out(s, p);
      return;
    }
    s.work.expires_after(p.delay);
    s.work.async_wait([self = shared_from_this(), id = s.id, p](error_code ec) {
      if (ec || self->closed_) {
        return;
      }
      if (const auto it = self->streams_.find(id); it != self->streams_.end()) {
        self->carry_out(*it->second, p);
        self->flush();
      }
    });
  }
}

void h2_connection::carry_out(h2_stream& s, const plan& p) {
  switch (p.what) {
    case action::hang:
      break;  // the stream stays open until the client resets it or leaves
    case action::reset:
      // HTTP/2's reset is the stream's, not the connection's: it stays.
      nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      break;
    default: {
      auto a = answer_for(p, site_->fixed_body, served_++);
      respond(s, a.status, a.content_type, std::move(a.body), true);
      break;
    }
  }
}

void h2_connection::respond(h2_stream& s, unsigned status, std::string_view content_type,
                            std::string body, bool may_stall) {
  s.body = std::move(body);
  if (may_stall && site_->wire.h2_stall_window) {
    s.limit = *site_->wire.h2_stall_window;
  }
  const auto code = std::to_string(status);
  const auto length = std::to_string(s.body.size());
  const std::array<nghttp2_nv, 3> nva{header(":status", code), header("content-type", content_type),
                                      header("content-length", length)};
  nghttp2_data_provider body_source{};
  body_source.source.ptr = &s;
  body_source.read_callback = read_body;
  nghttp2_submit_response(h2_, s.id, nva.data(), nva.size(), &body_source);
}

// --- the connection --------------------------------------------------------------

bool h2_connection::start_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) {
    return false;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  const int rv = nghttp2_session_server_new(&h2_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    return false;
  }
  const std::array<nghttp2_settings_entry, 1> settings{
      {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, site_->wire.h2_max_streams}}};
  return nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) == 0;
}

bool h2_connection::receive(const std::uint8_t* data, std::size_t n) {
  // A protocol error makes nghttp2 queue a GOAWAY; mem_recv fails only on
  // what it cannot answer at all.
  return nghttp2_session_mem_recv(h2_, data, n) >= 0;
}

void h2_connection::flush() {
  if (writing_ || closed_) {
    return;
  }
  writing_ = true;
  net::co_spawn(ex_, write_loop(), net::detached);
}

net::awaitable<void> h2_connection::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    out_.clear();
    while (!closed_ && out_.size() < write_batch) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(h2_, &data);
      if (n <= 0) {
        break;
      }
      out_.insert(out_.end(), data, data + n);
    }
    if (out_.empty() || closed_) {
      break;
    }
    error_code ec;
    if (tls_) {
      std::tie(ec, std::ignore) = co_await net::async_write(*tls_, net::buffer(out_), use_tuple);
    } else {
      std::tie(ec, std::ignore) = co_await net::async_write(*plain_, net::buffer(out_), use_tuple);
    }
    if (ec) {
      writing_ = false;
      end();
      co_return;
    }
  }
  writing_ = false;
  finish_if_done();
}

void h2_connection::finish_if_done() {
  if (closed_ || writing_ || nghttp2_session_want_read(h2_) != 0 ||
      nghttp2_session_want_write(h2_) != 0) {
    return;
  }
  // Everything said (a drained GOAWAY, or one after a protocol error): stop
  // sending, and give the client a moment to close first, so that what it
  // has not read yet is not lost to a reset.
  closed_ = true;
  streams_.clear();
  error_code ignored;
  socket().shutdown(tcp::socket::shutdown_send, ignored);
  linger_.expires_after(linger);
  linger_.async_wait([self = shared_from_this()](error_code) {
    error_code ignored_too;
    self->socket().close(ignored_too);
  });
}

void h2_connection::end() {
  closed_ = true;
  streams_.clear();
  linger_.cancel();
  error_code ignored;
  socket().close(ignored);
}

net::awaitable<void> h2_connection::run(std::string preread) {
  auto self = shared_from_this();
  if (!start_session()) {
    end();
    co_return;
  }
  if (!preread.empty() &&
      !receive(reinterpret_cast<const std::uint8_t*>(preread.data()), preread.size())) {
    end();
    co_return;
  }
  flush();
  for (;;) {
    error_code ec;
    std::size_t n = 0;
    if (tls_) {
      std::tie(ec, n) = co_await tls_->async_read_some(net::buffer(in_), use_tuple);
    } else {
      std::tie(ec, n) = co_await plain_->async_read_some(net::buffer(in_), use_tuple);
    }
    if (ec) {
      break;
    }
    if (closed_) {
      continue;  // lingering: what the client still sends is dropped
    }
    if (!receive(in_.data(), n)) {
      break;
    }
    flush();
    finish_if_done();
  }
  end();
}

}  // namespace

net::awaitable<void> serve_http2(tcp::socket socket, std::string preread, std::shared_ptr<site> s) {
  auto c = std::make_shared<h2_connection>(std::move(s), std::move(socket), std::nullopt);
  co_await c->run(std::move(preread));
}

net::awaitable<void> serve_http2(ssl::stream<tcp::socket> stream, std::shared_ptr<site> s) {
  auto c = std::make_shared<h2_connection>(std::move(s), std::nullopt, std::move(stream));
  co_await c->run({});
}

}  // namespace smart::sim
