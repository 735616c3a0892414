#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

namespace smart::testing {

child_process::child_process(const std::string& program, const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error{"pipe failed"};
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error{"fork failed"};
  }
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  out_ = pipe_fds[0];
}

child_process::~child_process() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_ >= 0) {
    ::close(out_);
  }
}

std::string child_process::wait_for_line(const std::string& needle,
                                         std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::size_t searched = 0;
  for (;;) {
    const auto found =
        output_.find(needle, searched > needle.size() ? searched - needle.size() : 0);
    if (found != std::string::npos) {
      const auto begin = output_.rfind('\n', found);
      const auto end = output_.find('\n', found);
      if (end != std::string::npos) {
        return output_.substr(begin == std::string::npos ? 0 : begin + 1,
                              end - (begin == std::string::npos ? 0 : begin + 1));
      }
    }
    // A line found without its end yet is searched again from where it was
    // found, once more has arrived.
    searched = found != std::string::npos ? found + needle.size() : output_.size();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return {};
    }
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return {};
    }
    char buf[4096];
    const auto n = ::read(out_, buf, sizeof buf);
    if (n <= 0) {
      return {};
    }
    output_.append(buf, static_cast<std::size_t>(n));
  }
}

void child_process::signal(int sig) const {
  ::kill(pid_, sig);
}

int child_process::wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      // Collect what is left of the output.
      char buf[4096];
      ::fcntl(out_, F_SETFL, O_NONBLOCK);
      for (ssize_t n; (n = ::read(out_, buf, sizeof buf)) > 0;) {
        output_.append(buf, static_cast<std::size_t>(n));
      }
      if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
      }
      return 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= until) {
      return -1;
    }
    // Drain output meanwhile so that the child never blocks on a full pipe.
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      char buf[4096];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
}

std::string program_from_environment(const char* variable) {
  const char* value = std::getenv(variable);  // NOLINT(concurrency-mt-unsafe)
  return value == nullptr ? std::string{} : std::string{value};
}

}  // namespace smart::testing
