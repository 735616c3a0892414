#pragma once
// One HTTP/1.1 exchange on an open upstream connection: the request out, the
// response in, classified. Internal to the upstream layer.

#include "connection.hpp"
#include "request_fields.hpp"

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

  // Sends the request (with the attempt's `fields`) and reads the response.
  // A stop request yields outcome::cancelled; the caller closes the
  // connection to end a step in progress.
  net::awaitable<attempt_result> run(connection& c, const request_fields& fields, stop_signal& stop,
                                     ending& end) const;

 private:
  template <typename Stream>
  net::awaitable<attempt_result> run_on(Stream& stream, connection& c, const request_fields& fields,
                                        stop_signal& stop, ending& end) const;

  // The request bytes that are the same for every attempt: the request line
  // and the fixed header fields, each line ended. The attempt's own fields
  // and the empty line follow.
  std::string request_;
  std::size_t body_limit_;
};

}  // namespace smart::upstream
