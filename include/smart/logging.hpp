#pragma once
// Logging: spdlog, asynchronous (a background thread formats and writes, the
// request path only enqueues), to the console and to a rotating file.

namespace smart {

struct config;

// Installs the default logger. Throws spdlog::spdlog_ex when the log file
// cannot be opened.
void init_logging(const config& cfg);

// Flushes and stops the background thread.
void stop_logging();

}  // namespace smart
