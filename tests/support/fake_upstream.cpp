#include "fake_upstream.hpp"

#include "certificates.hpp"

#include "smart/net.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

namespace smart::testing {

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The X-Request-Id a request head carries (as the service sends it), or "".
std::string request_id_of(const std::string& head) {
  constexpr std::string_view name = "\r\nX-Request-Id: ";
  const auto at = head.find(name);
  if (at == std::string::npos) {
    return {};
  }
  const auto from = at + name.size();
  return head.substr(from, head.find("\r\n", from) - from);
}
}  // namespace

reply reply::ok(int delay_ms, std::string body) {
  reply r;
  r.delay = std::chrono::milliseconds{delay_ms};
  r.body = std::move(body);
  return r;
}

reply reply::status_code(unsigned status, int delay_ms, std::string body) {
  reply r;
  r.status = status;
  r.delay = std::chrono::milliseconds{delay_ms};
  r.body = std::move(body);
  return r;
}

reply reply::reset_after(int delay_ms) {
  reply r;
  r.what = kind::reset;
  r.delay = std::chrono::milliseconds{delay_ms};
  return r;
}

reply reply::hang_up() {
  reply r;
  r.what = kind::hang;
  return r;
}

reply reply::close_after_ms(int delay_ms) {
  reply r;
  r.what = kind::close;
  r.delay = std::chrono::milliseconds{delay_ms};
  return r;
}

reply reply::raw_bytes(std::string bytes, int delay_ms) {
  reply r;
  r.what = kind::raw;
  r.raw = std::move(bytes);
  r.delay = std::chrono::milliseconds{delay_ms};
  return r;
}

reply reply::trickle(std::string bytes, int interval_ms) {
  reply r;
  r.what = kind::trickle;
  r.raw = std::move(bytes);
  r.interval = std::chrono::milliseconds{interval_ms};
  return r;
}

// Coroutines refer to the impl by plain reference: the destructor stops the
// io_context and joins its thread before the impl goes away.
struct fake_upstream::impl {
  std::optional<ssl::context> tls;  // outlives the io_context's pending streams
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  std::deque<reply> scripted;
  reply fallback_reply;
  std::string greeting;
  std::string last_head;
  std::vector<std::string> heads;
  std::atomic<int> requests{0};
  std::atomic<int> connections{0};
  std::atomic<int> closed_by_client{0};
  std::atomic<int> open{0};
  std::atomic<int> tails{0};

  void notify() {
    std::lock_guard lock{mu};
    changed.notify_all();
  }

  reply next(std::string head) {
    std::lock_guard lock{mu};
    heads.push_back(head);
    last_head = std::move(head);
    ++requests;
    changed.notify_all();
    if (scripted.empty()) {
      return fallback_reply;
    }
    reply r = std::move(scripted.front());
    scripted.pop_front();
    return r;
  }

  net::awaitable<void> accept_loop();
  template <typename Stream>
  net::awaitable<void> serve(Stream& stream, tcp::socket& raw);
  net::awaitable<void> connection(tcp::socket socket);
};

net::awaitable<void> fake_upstream::impl::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      co_return;
    }
    ++connections;
    ++open;
    notify();
    // Bytes leave when written, as a real upstream's would under load: with
    // Nagle's algorithm a late write could wait for the client's next segment.
    error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    net::co_spawn(ioc, connection(std::move(socket)), net::detached);
  }
}

net::awaitable<void> fake_upstream::impl::connection(tcp::socket socket) {
  std::string hello;
  {
    std::lock_guard lock{mu};
    hello = greeting;
  }
  if (!hello.empty()) {
    co_await net::async_write(socket, net::buffer(hello), use_tuple);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    --open;
    notify();
    co_return;
  }
  if (tls) {
    ssl::stream<tcp::socket> stream{std::move(socket), *tls};
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (!ec) {
      co_await serve(stream, stream.next_layer());
    } else {
      ++closed_by_client;  // the client refused the handshake
    }
    error_code ignored;
    stream.next_layer().close(ignored);
  } else {
    co_await serve(socket, socket);
    error_code ignored;
    socket.close(ignored);
  }
  --open;
  notify();
}

template <typename Stream>
net::awaitable<void> fake_upstream::impl::serve(Stream& stream, tcp::socket& raw) {
  std::string pending;
  std::array<char, 4096> chunk{};
  net::steady_timer timer{ioc};
  for (;;) {
    std::size_t end = 0;
    while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
      auto [ec, n] = co_await stream.async_read_some(net::buffer(chunk), use_tuple);
      if (ec) {
        ++closed_by_client;
        co_return;
      }
      pending.append(chunk.data(), n);
    }
    const auto head = pending.substr(0, end + 4);
    reply r = next(head);
    pending.erase(0, end + 4);

    if (r.delay.count() > 0) {
      timer.expires_after(r.delay);
      co_await timer.async_wait(use_tuple);
    }
    error_code ignored;
    switch (r.what) {
      case reply::kind::respond: {
        if (r.echo_id) {
          r.body = R"({"time": 10, "id": ")" + request_id_of(head) + R"("})";
        }
        std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                          " X\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(r.body.size()) + "\r\n" +
                          (r.close_after ? "Connection: close\r\n" : "") + "\r\n" + r.body;
        if (r.interim_lead.count() > 0) {
          auto [ec, n] = co_await net::async_write(stream, net::buffer(r.interim), use_tuple);
          if (ec) {
            ++closed_by_client;
            co_return;
          }
          timer.expires_after(r.interim_lead);
          co_await timer.async_wait(use_tuple);
        } else {
          out.insert(0, r.interim);
        }
        if (r.trailing_after.count() == 0) {
          out += r.trailing;
        }
        auto [ec, n] = co_await net::async_write(stream, net::buffer(out), use_tuple);
        if (ec) {
          ++closed_by_client;
          co_return;
        }
        if (r.trailing_after.count() > 0) {
          timer.expires_after(r.trailing_after);
          co_await timer.async_wait(use_tuple);
          std::tie(ec, n) = co_await net::async_write(stream, net::buffer(r.trailing), use_tuple);
          if (ec) {
            ++closed_by_client;
            co_return;
          }
          ++tails;
          notify();
        }
        if (r.close_after) {
          raw.shutdown(tcp::socket::shutdown_both, ignored);
          co_return;
        }
        if (r.close_idle_after.count() > 0) {
          timer.expires_after(r.close_idle_after);
          co_await timer.async_wait(use_tuple);
          raw.shutdown(tcp::socket::shutdown_both, ignored);
          co_return;
        }
        break;
      }
      case reply::kind::reset:
        raw.set_option(net::socket_base::linger{true, 0}, ignored);
        raw.close(ignored);
        co_return;
      case reply::kind::hang:
        for (;;) {
          auto [ec, n] = co_await stream.async_read_some(net::buffer(chunk), use_tuple);
          if (ec) {
            ++closed_by_client;
            co_return;
          }
        }
      case reply::kind::close:
        raw.shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
      case reply::kind::raw: {
        co_await net::async_write(stream, net::buffer(r.raw), use_tuple);
        raw.shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
      }
      case reply::kind::raw_then_reset: {
        co_await net::async_write(stream, net::buffer(r.raw), use_tuple);
        raw.set_option(net::socket_base::linger{true, 0}, ignored);
        raw.close(ignored);
        co_return;
      }
      case reply::kind::trickle:
        for (const char c : r.raw) {
          auto [ec, n] = co_await net::async_write(stream, net::buffer(&c, 1), use_tuple);
          if (ec) {
            ++closed_by_client;
            co_return;
          }
          timer.expires_after(r.interval);
          co_await timer.async_wait(use_tuple);
        }
        raw.shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
    }
  }
}

fake_upstream::fake_upstream(const tls_identity* identity) : impl_{std::make_unique<impl>()} {
  auto& i = *impl_;
  if (identity != nullptr) {
    i.tls.emplace(ssl::context::tls_server);
    i.tls->use_certificate_chain(net::buffer(identity->certificate_pem));
    i.tls->use_private_key(net::buffer(identity->private_key_pem), ssl::context::pem);
  }
  const tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), 0};
  i.acceptor.open(endpoint.protocol());
  i.acceptor.bind(endpoint);
  i.acceptor.listen();
  net::co_spawn(i.ioc, i.accept_loop(), net::detached);
  i.thread = std::thread{[&ioc = i.ioc] { ioc.run(); }};
}

fake_upstream::~fake_upstream() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::uint16_t fake_upstream::port() const {
  return impl_->acceptor.local_endpoint().port();
}

std::string fake_upstream::url() const {
  return std::string{impl_->tls ? "https" : "http"} + "://127.0.0.1:" + std::to_string(port()) +
         "/api/work";
}

void fake_upstream::script(std::vector<reply> replies) {
  std::lock_guard lock{impl_->mu};
  for (auto& r : replies) {
    impl_->scripted.push_back(std::move(r));
  }
}

void fake_upstream::greet_and_close(std::string bytes) {
  std::lock_guard lock{impl_->mu};
  impl_->greeting = std::move(bytes);
}

void fake_upstream::fallback(reply r) {
  std::lock_guard lock{impl_->mu};
  impl_->fallback_reply = std::move(r);
}

int fake_upstream::requests() const {
  return impl_->requests.load();
}
int fake_upstream::connections() const {
  return impl_->connections.load();
}
int fake_upstream::closed_by_client() const {
  return impl_->closed_by_client.load();
}
int fake_upstream::open_connections() const {
  return impl_->open.load();
}
int fake_upstream::tails_sent() const {
  return impl_->tails.load();
}

std::string fake_upstream::last_request_head() const {
  std::lock_guard lock{impl_->mu};
  return impl_->last_head;
}

std::vector<std::string> fake_upstream::request_heads() const {
  std::lock_guard lock{impl_->mu};
  return impl_->heads;
}

bool fake_upstream::wait_until(const std::function<bool()>& pred,
                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock{impl_->mu};
  return impl_->changed.wait_for(lock, timeout, pred);
}

}  // namespace smart::testing
