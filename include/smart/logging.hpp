#pragma once
// Logging: spdlog, asynchronous (a background thread formats and writes, the
// request path only enqueues), to the console and to a rotating file.

namespace smart {

struct config;

// Installs the default logger. Throws spdlog::spdlog_ex when the log file
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
