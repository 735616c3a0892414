#include "process_stats.hpp"

#include <unistd.h>

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace smart::metrics_detail {

namespace {

// Fields of /proc/self/stat after the command name, which may contain spaces.
std::vector<std::string> stat_fields() {
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  std::istringstream rest{close == std::string::npos ? std::string{} : line.substr(close + 2)};
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) {
    fields.push_back(f);
  }
  return fields;  // fields[0] is field 3 (state)
}

}  // namespace

process_stats read_process_stats() {
  process_stats out;
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto fields = stat_fields();
  if (fields.size() > 21 && ticks > 0) {
    out.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;  // utime + stime
    out.resident_bytes = std::stod(fields[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  }
  std::error_code ec;
  for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end;
       it.increment(ec)) {
    out.open_fds += 1;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return out;
}

// When the process started, in seconds since the Unix epoch: boot time plus
// the start time in /proc/self/stat; the present moment if /proc says nothing.
double process_start_time() {
  std::ifstream stat{"/proc/stat"};
  double boot = 0;
  for (std::string key; stat >> key;) {
    if (key == "btime") {
      stat >> boot;
      break;
    }
  }
  const auto fields = stat_fields();
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (boot > 0 && fields.size() > 19 && ticks > 0) {
    return boot + std::stod(fields[19]) / ticks;
  }
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace smart::metrics_detail
