#include "connection.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace smart::upstream {

connection::connection(const net::any_io_executor& ex, ssl::context* tls_context) {
  if (tls_context != nullptr) {
    tls.emplace(ex, *tls_context);
  } else {
    plain.emplace(ex);
  }
}

void connection::close() {
  error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

// Bytes after a complete answer can only be a late part of some earlier
// exchange (or, on TLS, a close_notify), and read as the start of the next
// answer they would hand a request another's response; an end of stream is
// the upstream's close of the idle connection. Either way the connection is
// not quiet.
bool connection::quiet() {
  char probe = 0;
  const auto n = ::recv(socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Decrypted bytes, or received records not yet decrypted (in OpenSSL's
// buffers, or in the memory BIO through which Asio feeds it). The socket
// itself is peeked by quiet() when the connection is next taken.
bool connection::tls_has_unread() {
  SSL* const handle = tls->native_handle();
  return SSL_pending(handle) > 0 || SSL_has_pending(handle) == 1 ||
         BIO_ctrl_pending(SSL_get_rbio(handle)) > 0;
}

}  // namespace smart::upstream
