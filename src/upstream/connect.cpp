#include "connect.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <span>
#include <stdexcept>
#include <string_view>

namespace smart::upstream {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Where a context keeps its session store, for the new-session callback.
int sessions_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL calls this for each session the server issues: after a TLS 1.2
// handshake, and for each TLS 1.3 NewSessionTicket (read after the
// handshake, during the exchange). The store keeps a copy: the connection's
// own session object is marked not resumable when the connection ends
// without a close_notify, as ours do when an answer is decided.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* store =
      static_cast<tls_sessions*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sessions_index()));
  if (store != nullptr && SSL_SESSION_is_resumable(session) == 1) {
    if (SSL_SESSION* const copy = SSL_SESSION_dup(session); copy != nullptr) {
      store->add(copy);
    }
  }
  return 0;  // the connection keeps its reference
}

}  // namespace

tls_sessions::~tls_sessions() {
  for (auto* s : sessions_) {
    SSL_SESSION_free(s);
  }
}

void tls_sessions::add(SSL_SESSION* s) {
  SSL_SESSION* dropped = nullptr;
  {
    std::lock_guard lock{mu_};
    sessions_.push_back(s);
    if (sessions_.size() > bound) {
      dropped = sessions_.front();
      sessions_.pop_front();
    }
  }
  if (dropped != nullptr) {
    SSL_SESSION_free(dropped);
  }
}

SSL_SESSION* tls_sessions::take() {
  std::lock_guard lock{mu_};
  while (!sessions_.empty()) {
    SSL_SESSION* s = sessions_.back();
    if (SSL_SESSION_is_resumable(s) != 1) {
      sessions_.pop_back();
      SSL_SESSION_free(s);
      continue;
    }
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
      sessions_.pop_back();  // single use: the caller gets the store's reference
    } else {
      SSL_SESSION_up_ref(s);  // kept for other connections
    }
    return s;
  }
  return nullptr;
}

std::size_t tls_sessions::size() const {
  std::lock_guard lock{mu_};
  return sessions_.size();
}

connector::connector(const url& target, upstream_http version, const std::string& extra_ca_file,
                     client_stats& stats)
    : host_{target.host}, version_{version}, stats_{stats} {
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
  // Sessions go to our store only (OpenSSL's internal cache is for servers
  // and would never hand a client's session back by itself).
  SSL_CTX* const ctx = tls_context_->native_handle();
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx, sessions_index(), sessions_.get());
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  // ALPN (RFC 7301): what we offer, in order of preference; the server picks.
  static constexpr unsigned char both[] = "\x02h2\x08http/1.1";
  static constexpr unsigned char h2_only[] = "\x02h2";
  static constexpr unsigned char http1_only[] = "\x08http/1.1";
  const std::span<const unsigned char> offer = version_ == upstream_http::http2 ? h2_only
                                               : version_ == upstream_http::http1
                                                   ? std::span<const unsigned char>{http1_only}
                                                   : std::span<const unsigned char>{both};
  // (The arrays' terminating NUL is not part of the list.)
  if (SSL_CTX_set_alpn_protos(ctx, offer.data(), static_cast<unsigned>(offer.size() - 1)) != 0) {
    throw std::invalid_argument{"cannot set the TLS ALPN protocols"};
  }
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
    if (SSL_SESSION* const session = sessions_->take(); session != nullptr) {
      // A session the server no longer accepts costs nothing: the handshake
      // goes on in full.
      SSL_set_session(c.tls->native_handle(), session);
      SSL_SESSION_free(session);
    }
    auto [hs_ec] = co_await c.tls->async_handshake(ssl::stream_base::client, use_tuple);
    if (stop.stop_requested()) {
      co_return failure(outcome::cancelled, hs_ec);
    }
    if (hs_ec) {
      co_return failure(outcome::tls_error, hs_ec);
    }
    stats_.upstream_tls_handshake(SSL_session_reused(c.tls->native_handle()) == 1);
    const unsigned char* chosen = nullptr;
    unsigned chosen_size = 0;
    SSL_get0_alpn_selected(c.tls->native_handle(), &chosen, &chosen_size);
    c.http2 = std::string_view{reinterpret_cast<const char*>(chosen), chosen_size} == "h2";
    if (!c.http2 && version_ == upstream_http::http2) {
      // HTTP/2 only, and the server did not choose it (or ignored ALPN).
      co_return failure(outcome::protocol_error);
    }
  } else {
    c.http2 = version_ == upstream_http::http2;  // prior knowledge (RFC 9113 §3.3)
  }
  stats_.upstream_connection_opened(c.http2 ? protocol::http2 : protocol::http1);
  attempt_result ok;
  ok.result = outcome::success;
  co_return ok;
}

}  // namespace smart::upstream
