// smart-wakeup: how long this machine takes to wake a thread that sleeps in
// epoll_wait() when another core sends it something, the way a proxy's idle
// core is woken by a packet. No HTTP, no sockets: one pipe between two pinned
// threads.
//
//   smart-wakeup [--rate R] [--duration S] [--from CORE] [--to CORE]
//
// The sender, on core --from, writes its clock reading into the pipe at R
// per second (absolute timer, so a late send does not shift the next); the
// receiver, on core --to, sleeps in epoll_wait() between messages and
// records its clock minus the reading. Prints one JSON object with the
// percentiles in microseconds.

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

void pin(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
    std::fprintf(stderr, "smart-wakeup: cannot pin to core %d\n", core);
    std::exit(1);
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "smart-wakeup: %s\nusage: smart-wakeup [--rate R] [--duration S] [--from CORE] "
               "[--to CORE]\n",
               why);
  std::exit(2);
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char* argv[]) {
  double rate = 2000;
  double duration = 3;
  int from = 1;
  int to = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      usage("every option needs a value");
    }
    const char* value = argv[++i];
    if (arg == "--rate") {
      rate = std::atof(value);
    } else if (arg == "--duration") {
      duration = std::atof(value);
    } else if (arg == "--from") {
      from = std::atoi(value);
    } else if (arg == "--to") {
      to = std::atoi(value);
    } else {
      usage("unknown option");
    }
  }
  if (rate <= 0 || duration <= 0) {
    usage("--rate and --duration must be positive");
  }

  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    return 1;
  }
  const auto count = static_cast<std::size_t>(rate * duration);
  std::vector<double> samples;
  samples.reserve(count);

  std::thread receiver{[&] {
    pin(to);
    const int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev);
    while (samples.size() < count) {
      epoll_event out{};
      if (epoll_wait(ep, &out, 1, -1) != 1) {
        continue;
      }
      std::int64_t sent = 0;
      if (read(fds[0], &sent, sizeof sent) != sizeof sent) {
        break;
      }
      samples.push_back(static_cast<double>(now_ns() - sent) / 1000.0);
    }
    close(ep);
  }};

  pin(from);
  const auto period = static_cast<std::int64_t>(1e9 / rate);
  timespec due{};
  clock_gettime(CLOCK_MONOTONIC, &due);
  for (std::size_t i = 0; i < count; ++i) {
    due.tv_nsec += period;
    while (due.tv_nsec >= 1'000'000'000L) {
      due.tv_nsec -= 1'000'000'000L;
      ++due.tv_sec;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, nullptr) == EINTR) {
    }
    const std::int64_t stamp = now_ns();
    if (write(fds[1], &stamp, sizeof stamp) != sizeof stamp) {
      std::perror("write");
      return 1;
    }
  }
  receiver.join();
  std::sort(samples.begin(), samples.end());
  std::printf(
      "{\"samples\": %zu, \"wakeup_us\": {\"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, "
      "\"max\": %.1f}}\n",
      samples.size(), percentile(samples, 0.5), percentile(samples, 0.99),
      percentile(samples, 0.999), samples.empty() ? 0.0 : samples.back());
  return 0;
}
