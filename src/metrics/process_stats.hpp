#pragma once
// The standard process metrics (process_*), read from /proc at scrape time.

namespace smart::metrics_detail {

struct process_stats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
};

// CPU time, resident memory, open descriptors and their limit, now.
process_stats read_process_stats();

// When the process started, in seconds since the Unix epoch.
double process_start_time();

}  // namespace smart::metrics_detail
