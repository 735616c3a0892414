#pragma once
// Logging: spdlog, asynchronous (a background thread formats and writes, the
// request path only enqueues), to the console and to a rotating file, as text
// or as JSON lines (--log-format).

#include <chrono>
#include <string>
#include <string_view>

namespace smart {

struct config;

// Appends one log line in the JSON format, without its newline:
// {"time":"<UTC, milliseconds>","level":"<level>","message":"<payload>"}, or
// for an access line (`access_fields`: the payload is JSON fields already,
// edge/access_log.hpp) {"time":…,"level":…,"event":"access",<payload>}. A
// message may hold any bytes: quotes, backslashes and control characters
// are escaped, and bytes that are not well-formed UTF-8 become U+FFFD, so
// that every line is valid JSON.
void append_json_line(std::string& out, std::chrono::system_clock::time_point time,
                      std::string_view level, std::string_view payload, bool access_fields);

// Installs the default logger and the access logger (access_log.hpp), in the
// configured format. Throws spdlog::spdlog_ex when the log file
// cannot be opened.
void init_logging(const config& cfg);

// Opens the log file anew at its configured path (after log rotation moved
// it away: the SIGHUP convention). Lines keep flowing meanwhile; on failure
// the old file stays in use and an error is logged. Any thread; nothing
// without a log file.
void reopen_log_file();

// Flushes and stops the background thread.
void stop_logging();

}  // namespace smart
