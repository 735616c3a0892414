#include "server.hpp"

#include "http2.hpp"

#include "smart/edge/request_head.hpp"
#include "smart/net.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <cstring>

namespace smart::sim {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

constexpr std::string_view json_head =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
constexpr std::string_view text_500 =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
    "Content-Length: 21\r\n\r\nInternal Server Error";
constexpr std::string_view text_429 =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
    "Content-Length: 17\r\n\r\nToo many requests";
constexpr std::string_view not_found =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found";
constexpr std::string_view healthy =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    R"({"status":"ok"})";

void append_number(std::string& out, std::int64_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

// A 200 response with a JSON body, built into `out`.
void json_response(std::string& out, std::string_view body) {
  out.assign(json_head);
  append_number(out, static_cast<std::int64_t>(body.size()));
  out += "\r\n\r\n";
  out += body;
}

// What an HTTP/2 client sends first on a connection (RFC 9113 §3.4).
constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// ALPN (RFC 7301): h2 when the client offers it and HTTP/2 is on, else
// http/1.1 unless HTTP/2 is all there is. `arg` is the protocol options.
int select_protocol(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* arg) {
  const auto mode = static_cast<const protocol_options*>(arg)->http2;
  const unsigned char* http1 = nullptr;
  for (unsigned i = 0; i < inlen;) {
    const unsigned len = in[i];
    const unsigned char* name = in + i + 1;
    if (i + 1 + len > inlen) {
      break;
    }
    const std::string_view proto{reinterpret_cast<const char*>(name), len};
    if (proto == "h2" && mode != http2_mode::off) {
      *out = name;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    if (proto == "http/1.1" && http1 == nullptr) {
      http1 = name;
    }
    i += 1 + len;
  }
  if (mode == http2_mode::only) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  if (http1 != nullptr) {
    *out = http1;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Counts a connection of kind `w` as open while it is served.
class open_connection {
 public:
  open_connection(sim_stats& s, wire w) : stats_{s}, wire_{w} { stats_.opened(w); }
  ~open_connection() { stats_.closed(wire_); }
  open_connection(const open_connection&) = delete;
  open_connection& operator=(const open_connection&) = delete;

 private:
  sim_stats& stats_;
  wire wire_;
};

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(net::io_context& context, behaviour& b, std::string fixed_body, protocol_options wire)
      : ioc{context},
        shared{std::make_shared<site>(b, fixed_body, std::move(wire))},
        plan{b},
        strand{net::make_strand(context)},
        acceptor{strand} {
    if (!fixed_body.empty()) {
      json_response(fixed_reply, fixed_body);
    }
    if (shared->wire.tls()) {
      tls.emplace(ssl::context::tls_server);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls->use_certificate_chain_file(shared->wire.tls_cert);
      tls->use_private_key_file(shared->wire.tls_key, ssl::context::pem);
      SSL_CTX_set_alpn_select_cb(tls->native_handle(), select_protocol,
                                 const_cast<protocol_options*>(&shared->wire));
    }
  }

  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(tcp::socket socket);
  template <class Stream>
  net::awaitable<void> serve_http1(Stream& stream, beast::flat_buffer& buffer);

  net::io_context& ioc;
  std::shared_ptr<site> shared;  // with the HTTP/2 connections
  behaviour& plan;
  std::string fixed_reply;  // the whole success response, when the body is fixed
  std::optional<ssl::context> tls;
  net::strand<net::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  std::uint16_t bound_port = 0;
};

net::awaitable<void> server::impl::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(ioc), use_tuple);
    if (ec) {
      if (!acceptor.is_open()) {
        break;
      }
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    net::co_spawn(socket.get_executor(), serve(tcp::socket{std::move(socket)}), net::detached);
  }
}

net::awaitable<void> server::impl::serve(tcp::socket socket) {
  auto self = shared_from_this();
  auto& stats = shared->stats;
  const auto mode = shared->wire.http2;
  beast::flat_buffer buffer{16 * 1024};

  if (tls) {
    ssl::stream<tcp::socket> stream{std::move(socket), *tls};
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (ec) {
      count(stats.tls_handshake_failures);
      co_return;
    }
    const unsigned char* proto = nullptr;
    unsigned proto_len = 0;
    SSL_get0_alpn_selected(stream.native_handle(), &proto, &proto_len);
    if (proto_len == 2 && std::memcmp(proto, "h2", 2) == 0) {
      const open_connection counted{stats, wire::h2};
      co_await serve_http2(std::move(stream), shared);
    } else if (mode == http2_mode::only) {
      count(stats.refused_connections);  // no ALPN at all: h2 was not asked for
    } else {
      const open_connection counted{stats, wire::http1_tls};
      co_await serve_http1(stream, buffer);
    }
    co_return;
  }

  // A plain connection speaks HTTP/2 (h2c) when it starts with the preface;
  // an HTTP/1.1 request differs from it at the first byte.
  bool h2c = false;
  if (mode != http2_mode::off) {
    for (;;) {
      const std::string_view seen{static_cast<const char*>(buffer.data().data()), buffer.size()};
      const auto n = std::min(seen.size(), h2_preface.size());
      if (seen.substr(0, n) != h2_preface.substr(0, n)) {
        break;
      }
      if (n == h2_preface.size()) {
        h2c = true;
        break;
      }
      auto [ec, got] = co_await socket.async_read_some(buffer.prepare(4096), use_tuple);
      if (ec) {
        co_return;
      }
      buffer.commit(got);
    }
  }
  if (h2c) {
    const open_connection counted{stats, wire::h2c};
    std::string preread{static_cast<const char*>(buffer.data().data()), buffer.size()};
    co_await serve_http2(std::move(socket), std::move(preread), shared);
  } else if (mode == http2_mode::only) {
    count(stats.refused_connections);
  } else {
    const open_connection counted{stats, wire::http1};
    co_await serve_http1(socket, buffer);
  }
}

template <class Stream>
net::awaitable<void> server::impl::serve_http1(Stream& socket, beast::flat_buffer& buffer) {
  auto self = shared_from_this();
  std::string target;
  std::string request_id;
  std::string out;
  net::steady_timer work{socket.get_executor()};
  std::uint64_t served = 0;

  for (;;) {
    edge::request_head head{target, request_id};
    auto [ec, n] = co_await http::async_read_header(socket, buffer, head, use_tuple);
    if (ec) {
      break;
    }
    const std::string_view path = std::string_view{target}.substr(0, target.find('?'));
    std::string_view reply;
    bool keep_open = head.keep_alive();
    if (path == "/healthz") {
      reply = healthy;
    } else if (path == "/stats") {
      json_response(out, shared->stats.to_json());
      reply = out;
    } else if (path != "/api/work") {
      reply = not_found;
    } else {
      count(shared->stats.work_requests);
      const auto p = plan.next(request_id);
      if (p.delay.count() > 0) {
        work.expires_after(p.delay);
        co_await work.async_wait(use_tuple);
      }
      switch (p.what) {
        case action::ok: {
          if (!fixed_reply.empty()) {
            reply = fixed_reply;
            break;
          }
          std::string body = R"({"time": )";
          append_number(body, p.delay.count());
          body += '}';
          json_response(out, body);
          reply = out;
          break;
        }
        case action::server_error:
          reply = text_500;
          break;
        case action::too_many:
          reply = text_429;
          break;
        case action::invalid_json:
          json_response(out, invalid_bodies[served % std::size(invalid_bodies)]);
          reply = out;
          break;
        case action::hang: {
          // Hold the connection, answering nothing, until the client gives up.
          std::array<char, 512> sink{};
          for (;;) {
            auto [read_ec, read_n] = co_await socket.async_read_some(net::buffer(sink), use_tuple);
            if (read_ec) {
              break;
            }
          }
          keep_open = false;
          break;
        }
        case action::reset: {
          error_code ignored;
          auto& tcp_socket = beast::get_lowest_layer(socket);
          tcp_socket.set_option(net::socket_base::linger{true, 0}, ignored);
          tcp_socket.close(ignored);  // an abortive close sends RST
          keep_open = false;
          break;
        }
      }
      ++served;
    }
    if (!reply.empty()) {
      auto [write_ec, written] = co_await net::async_write(socket, net::buffer(reply), use_tuple);
      if (write_ec) {
        break;
      }
    }
    if (!keep_open) {
      break;
    }
  }
  error_code ignored;
  beast::get_lowest_layer(socket).close(ignored);
}

server::server(net::io_context& ioc, behaviour& plan, std::string body, protocol_options wire)
    : impl_{std::make_shared<impl>(ioc, plan, std::move(body), std::move(wire))} {}

server::~server() = default;

void server::start(const std::string& host, std::uint16_t port) {
  auto& i = *impl_;
  const tcp::endpoint endpoint{net::ip::make_address(host), port};
  i.acceptor.open(endpoint.protocol());
  i.acceptor.set_option(net::socket_base::reuse_address{true});
  i.acceptor.bind(endpoint);
  i.acceptor.listen(net::socket_base::max_listen_connections);
  i.bound_port = i.acceptor.local_endpoint().port();
  net::co_spawn(i.strand, i.accept_loop(), net::detached);
}

std::uint16_t server::port() const {
  return impl_->bound_port;
}

const sim_stats& server::stats() const {
  return impl_->shared->stats;
}

}  // namespace smart::sim
