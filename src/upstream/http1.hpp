#pragma once
// One HTTP/1.1 exchange on an open upstream connection: the request out, the
// response in, classified. Internal to the upstream layer.

#include "connection.hpp"

#include "smart/stop.hpp"
#include "smart/upstream/url.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace smart::upstream {

class http1_exchange {
 public:
  http1_exchange(const url& target, std::size_t body_limit);

  // What one exchange left behind.
  struct ending {
    // The connection may carry another request: the response ended exactly
    // at a message boundary, nothing unread, keep-alive.
    bool reusable = false;
    // It failed before the upstream sent a single byte (a pooled connection
    // that had been closed while idle looks exactly like this).
    bool silent = false;
  };

  // Sends the request (with `request_id` as X-Request-Id unless empty) and
  // reads the response. A stop request yields outcome::cancelled; the caller
  // closes the connection to end a step in progress.
  net::awaitable<attempt_result> run(connection& c, std::string_view request_id, stop_signal& stop,
                                     ending& end) const;

 private:
  template <typename Stream>
  net::awaitable<attempt_result> run_on(Stream& stream, connection& c, std::string_view request_id,
                                        stop_signal& stop, ending& end) const;

  // The request bytes, identical for every attempt: whole without an id;
  // with one, up to the id's value, which end_of_head follows.
  static constexpr std::string_view end_of_head = "\r\n\r\n";
  std::string request_;
  std::string request_with_id_;
  std::size_t body_limit_;
};

}  // namespace smart::upstream
