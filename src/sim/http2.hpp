#pragma once
// upstream-sim's HTTP/2 side: an nghttp2 server session on one connection,
// with the read loop and write pump on the connection's strand. Internal to
// the simulator; heavy (Asio), included by its server and HTTP/2 files only.

#include "protocol.hpp"

#include "smart/net.hpp"

#include <memory>
#include <string>

namespace smart::sim {

// Serves HTTP/2 on an accepted connection until it ends. `preread` holds
// bytes already read from a plain connection (the client's preface, maybe
// more). The socket's executor must be a strand: everything of the session
// runs on it. Completes when the connection is closed.
net::awaitable<void> serve_http2(tcp::socket socket, std::string preread, std::shared_ptr<site> s);
net::awaitable<void> serve_http2(ssl::stream<tcp::socket> stream, std::shared_ptr<site> s);

}  // namespace smart::sim
