#pragma once
// Runs a program of the project as a child process, for tests of what only a
// real process shows: exit status, signals, output.

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace smart::testing {

class child_process {
 public:
  // Starts `program` with `args`; standard output and error are captured.
  child_process(const std::string& program, const std::vector<std::string>& args);
  ~child_process();  // kills the process if it still runs
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Reads output until a line contains `needle`; returns that line ("" on
  // timeout or end of output).
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // All output read so far.
  [[nodiscard]] const std::string& output() const { return output_; }

  void signal(int sig) const;
  // Waits for the exit; returns the exit status, or -1 on timeout, or 128 +
  // the signal that ended it.
  int wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
  bool exited_ = false;
};

// The path of a built program, from the environment variable ctest sets
// (e.g. SMART_API_BINARY); empty when the test runs outside ctest.
std::string program_from_environment(const char* variable);

}  // namespace smart::testing
