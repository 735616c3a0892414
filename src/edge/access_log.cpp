#include "smart/edge/access_log.hpp"

#include "smart/edge/response.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

namespace smart::edge {

namespace {

void append_number(std::string& out, long long value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

// Milliseconds with three decimals (microseconds), as the text line has them.
void append_millis(std::string& out, double ms) {
  std::array<char, 32> digits{};
  const auto [end, ec] =
      std::to_chars(digits.data(), digits.data() + digits.size(), ms, std::chars_format::fixed, 3);
  out.append(digits.data(), end);
}

void append_trace(std::string& out, const trace::trace_id* id) {
  if (id != nullptr) {
    const auto hex = trace::format_trace_id(*id);
    out.append(hex.data(), hex.size());
  }
}

}  // namespace

void append_access_text(std::string& out, const access_entry& e) {
  out += e.request_id;
  out += " \"";
  out += e.method;
  out += ' ';
  out += e.route;
  out += "\" ";
  append_number(out, e.status);
  out += ' ';
  append_millis(out, e.duration_ms);
  out += "ms attempts=";
  append_number(out, e.attempts);
  out += " winner=";
  append_number(out, e.winner);
  out += " trace=";
  append_trace(out, e.trace);
}

void append_access_fields(std::string& out, const access_entry& e) {
  // Every value but the numbers is escaped, though ids, methods and routes
  // come from safe sets already: a line must be valid JSON whatever happens.
  out += R"("request_id":")";
  append_json_escaped(out, e.request_id);
  out += R"(","trace_id":")";
  append_trace(out, e.trace);
  out += R"(","method":")";
  append_json_escaped(out, e.method);
  out += R"(","route":")";
  append_json_escaped(out, e.route);
  out += R"(","status":)";
  append_number(out, e.status);
  out += R"(,"duration_ms":)";
  append_millis(out, e.duration_ms);
  out += R"(,"attempts":)";
  append_number(out, e.attempts);
  out += R"(,"winner":)";
  append_number(out, e.winner);
}

access_log::access_log(bool json) : json_{json} {
  logger_ = spdlog::get(std::string{access_logger_name});
  if (!logger_) {
    logger_ = spdlog::default_logger();
  }
}

void access_log::write(const access_entry& e) const {
  if (!logger_->should_log(spdlog::level::info)) {
    return;
  }
  // The line is built here, on the request's thread, from views that do not
  // outlive the call; the logger's thread gets a copy.
  thread_local std::string line;
  line.clear();
  if (json_) {
    append_access_fields(line, e);
  } else {
    append_access_text(line, e);
  }
  logger_->log(spdlog::level::info, spdlog::string_view_t{line.data(), line.size()});
}

}  // namespace smart::edge
