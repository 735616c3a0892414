#include "connect.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace smart::upstream {

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}  // namespace

connector::connector(const url& target, const std::string& extra_ca_file, client_stats& stats)
    : host_{target.host}, stats_{stats} {
  if (!target.tls) {
    return;
  }
  tls_context_.emplace(ssl::context::tls_client);
  tls_context_->set_default_verify_paths();
  if (!extra_ca_file.empty()) {
    error_code ec;
    tls_context_->load_verify_file(extra_ca_file, ec);
    if (ec) {
      throw std::invalid_argument{"cannot load CA file " + extra_ca_file + ": " + ec.message()};
    }
  }
  tls_context_->set_verify_mode(ssl::verify_peer);
  error_code ec;
  std::ignore = net::ip::make_address(host_, ec);
  host_is_address_ = !ec;
}

net::awaitable<attempt_result> connector::open(connection& c,
                                               const std::vector<tcp::endpoint>& endpoints,
                                               stop_signal& stop) {
  if (endpoints.empty()) {
    co_return failure(outcome::connect_error, net::error::host_not_found);
  }
  const auto connecting = clock::now();
  auto [ec, endpoint] = co_await net::async_connect(c.socket(), endpoints, use_tuple);
  c.handshake = clock::now() - connecting;
  if (stop.stop_requested()) {
    co_return failure(outcome::cancelled, ec);
  }
  if (ec) {
    co_return failure(outcome::connect_error, ec);
  }
  c.socket().set_option(tcp::no_delay{true}, ec);
  c.socket().non_blocking(true, ec);  // lets an exchange write without the reactor
  if (c.tls) {
    // SNI is for names only (RFC 6066); verification checks the name or the
    // address against the certificate.
    // (SSL_set_tlsext_host_name is a macro with a C cast; this is what it does.)
    if (!host_is_address_ &&
        SSL_ctrl(c.tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 static_cast<void*>(const_cast<char*>(host_.c_str()))) != 1) {
      co_return failure(outcome::tls_error, error_code{static_cast<int>(::ERR_get_error()),
                                                       net::error::get_ssl_category()});
    }
    c.tls->set_verify_callback(ssl::host_name_verification{host_});
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

}  // namespace smart::upstream
