#pragma once
// The access log: one line per request, as text or as JSON fields. Lines go
// to the logger named access_logger_name when there is one (logging.hpp
// makes it, with the same sinks as the default logger, so that the JSON
// formatter can tell access lines by their logger), else to the default.

#include "smart/trace/context.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}  // namespace spdlog

namespace smart::edge {

inline constexpr std::string_view access_logger_name = "access";

// What one access line says.
struct access_entry {
  std::string_view request_id;  // a valid id (request_id.hpp)
  const trace::trace_id* trace = nullptr;
  std::string_view method;  // from a fixed list, or OTHER
  std::string_view route;   // from the route table, or "other"
  unsigned status = 0;
  double duration_ms = 0;
  int attempts = 0;
  int winner = 0;
};

// The text line: id "METHOD route" status duration attempts= winner= trace=.
void append_access_text(std::string& out, const access_entry& e);
// The JSON fields, without braces: "request_id":…,"trace_id":…,"method":…,
// "route":…,"status":…,"duration_ms":…,"attempts":…,"winner":….
void append_access_fields(std::string& out, const access_entry& e);

class access_log {
 public:
  // Takes the access logger as it is now (after logging is set up).
  explicit access_log(bool json);
  // Any thread; formats on the calling thread, writes on the logger's.
  void write(const access_entry& e) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

}  // namespace smart::edge
