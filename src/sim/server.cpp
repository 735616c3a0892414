#include "server.hpp"

#include "smart/edge/request_head.hpp"
#include "smart/net.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

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

// Bodies that are not a valid answer, in turn: broken JSON, a wrong type, a
// negative time, not JSON at all.
constexpr std::array<std::string_view, 4> invalid_bodies = {R"({"time": )", R"({"time": "fast"})",
                                                            R"({"time": -5})", "<html>busy</html>"};

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

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(net::io_context& context, behaviour& b, std::string fixed_body)
      : ioc{context}, plan{b}, strand{net::make_strand(context)}, acceptor{strand} {
    if (!fixed_body.empty()) {
      json_response(fixed_reply, fixed_body);
    }
  }

  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(tcp::socket socket);

  net::io_context& ioc;
  behaviour& plan;
  std::string fixed_reply;  // the whole success response, when the body is fixed
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
  beast::flat_buffer buffer{16 * 1024};
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
    } else if (path != "/api/work") {
      reply = not_found;
    } else {
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
          json_response(out, invalid_bodies[served % invalid_bodies.size()]);
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
          socket.set_option(net::socket_base::linger{true, 0}, ignored);
          socket.close(ignored);  // an abortive close sends RST
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
  socket.close(ignored);
}

server::server(net::io_context& ioc, behaviour& plan, std::string body)
    : impl_{std::make_shared<impl>(ioc, plan, std::move(body))} {}

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

}  // namespace smart::sim
