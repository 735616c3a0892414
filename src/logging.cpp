#include "smart/logging.hpp"

#include "smart/config.hpp"
#include "smart/edge/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <ctime>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace smart {

namespace {

constexpr std::size_t queue_size = 16384;
constexpr std::size_t file_size = 10 * 1024 * 1024;
constexpr std::size_t file_count = 5;
constexpr auto pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

// Lines as JSON objects. Runs on the logger's thread only (async logger).
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    line_.clear();
    const auto level = spdlog::level::to_string_view(msg.level);
    append_json_line(line_, msg.time, {level.data(), level.size()},
                     {msg.payload.data(), msg.payload.size()},
                     std::string_view{msg.logger_name.data(), msg.logger_name.size()} ==
                         edge::access_logger_name);
    line_ += '\n';
    dest.append(line_.data(), line_.data() + line_.size());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

 private:
  std::string line_;
};

void set_format(spdlog::sinks::sink& sink, bool json) {
  if (json) {
    sink.set_formatter(std::make_unique<json_formatter>());
  } else {
    sink.set_pattern(pattern);
  }
}

// The log file's sink sits behind a dist_sink, whose mutex lets
// reopen_log_file() swap it for a new one while the logger thread writes.
struct log_file {
  std::mutex mu;
  std::string path;  // empty: console only
  bool json = false;
  std::shared_ptr<spdlog::sinks::dist_sink_mt> slot;
};

log_file& the_log_file() {
  static log_file instance;
  return instance;
}

// A string's contents for JSON: quotes, backslashes and control characters
// escaped, and any byte that is not part of well-formed UTF-8 replaced by
// U+FFFD, so that whatever a message holds, the line parses.
void append_json_text(std::string& out, std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c == 0x7f) {
        out += "\\u00";
        out += hex[c >> 4U];
        out += hex[c & 0xfU];
      } else {
        out += static_cast<char>(c);
      }
      ++p;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then the
    // continuation bytes, no overlong forms, no surrogates, at most U+10FFFF.
    std::size_t length = 0;
    unsigned low = 0x80;
    unsigned high = 0xbf;  // the range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      low = c == 0xe0 ? 0xa0 : 0x80;
      high = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      low = c == 0xf0 ? 0x90 : 0x80;
      high = c == 0xf4 ? 0x8f : 0xbf;
    }
    bool ok =
        length != 0 && static_cast<std::size_t>(end - p) >= length && p[1] >= low && p[1] <= high;
    for (std::size_t i = 2; ok && i < length; ++i) {
      ok = p[i] >= 0x80 && p[i] <= 0xbf;
    }
    if (ok) {
      out.append(reinterpret_cast<const char*>(p), length);
      p += length;
    } else {
      out += "\\ufffd";
      ++p;
    }
  }
}

// 2026-12-05T05:04:28.689Z: UTC, which collectors read without a zone
// table. The seconds are formatted once per second.
void append_utc_time(std::string& out, std::chrono::system_clock::time_point t) {
  thread_local std::time_t cached_second = -1;
  thread_local std::array<char, 32> text{};
  thread_local std::size_t length = 0;
  const auto since_epoch = t.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto second = static_cast<std::time_t>(seconds.count());
  if (second != cached_second) {
    std::tm utc{};
    gmtime_r(&second, &utc);
    length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S.", &utc);
    cached_second = second;
  }
  out.append(text.data(), length);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const auto n = static_cast<int>(ms.count());
  out += static_cast<char>('0' + n / 100);
  out += static_cast<char>('0' + n / 10 % 10);
  out += static_cast<char>('0' + n % 10);
  out += 'Z';
}

}  // namespace

void append_json_line(std::string& out, std::chrono::system_clock::time_point time,
                      std::string_view level, std::string_view payload, bool access_fields) {
  out += R"({"time":")";
  append_utc_time(out, time);
  out += R"(","level":")";
  append_json_text(out, level);
  if (access_fields) {
    out += R"(","event":"access",)";
    out += payload;
    out += '}';
  } else {
    out += R"(","message":")";
    append_json_text(out, payload);
    out += "\"}";
  }
}

void init_logging(const config& cfg) {
  spdlog::init_thread_pool(queue_size, 1);
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  if (!cfg.log_file.empty()) {
    auto& file = the_log_file();
    const std::lock_guard lock{file.mu};
    file.path = cfg.log_file;
    file.json = cfg.log_json;
    file.slot = std::make_shared<spdlog::sinks::dist_sink_mt>();
    file.slot->add_sink(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        cfg.log_file, file_size, file_count));
    sinks.push_back(file.slot);
  }
  for (const auto& sink : sinks) {
    set_format(*sink, cfg.log_json);
  }
  // When the queue is full, the oldest lines are dropped: a burst of access
  // lines must never block a request.
  const auto make = [&](const std::string& name) {
    auto logger = std::make_shared<spdlog::async_logger>(
        name, sinks.begin(), sinks.end(), spdlog::thread_pool(),
        spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(spdlog::level::from_str(cfg.log_level));
    logger->flush_on(spdlog::level::warn);
    return logger;
  };
  // Access lines have a logger of their own, on the same sinks and queue:
  // by its name the JSON format knows that their payload is fields.
  spdlog::set_default_logger(make("smart"));
  spdlog::register_logger(make(std::string{edge::access_logger_name}));
  spdlog::flush_every(std::chrono::seconds{1});
}

void reopen_log_file() {
  auto& file = the_log_file();
  const std::lock_guard lock{file.mu};
  if (!file.slot) {
    return;
  }
  try {
    // Opens (or creates) the file at the configured path; lines queued
    // before the swap went to the old one, whose descriptor closes with it.
    auto fresh =
        std::make_shared<spdlog::sinks::rotating_file_sink_mt>(file.path, file_size, file_count);
    set_format(*fresh, file.json);
    file.slot->set_sinks({std::move(fresh)});
    spdlog::info("log file reopened: {}", file.path);
  } catch (const std::exception& e) {
    // The old file stays in use: losing the log is worse than writing it to
    // a file that was moved.
    spdlog::error("cannot reopen the log file {}: {}", file.path, e.what());
  }
}

void stop_logging() {
  spdlog::shutdown();
  auto& file = the_log_file();
  const std::lock_guard lock{file.mu};
  file.slot.reset();
}

}  // namespace smart
