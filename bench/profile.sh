#!/usr/bin/env bash
# Where a proxied request's CPU goes, smart-api next to nginx, on the same
# fast upstream as the throughput benchmark:
#   - system calls per request, by kind (perf's syscall tracepoints, at full load);
#   - user-space instructions per request (callgrind: exact, and independent
#     of how fast the core happens to be).
# Not part of bench/run.sh: it answers "why", the report answers "how much".
#
#   bench/profile.sh                 smart-api and nginx
#   bench/profile.sh LIB.so ...      also smart-api with each allocator preloaded, e.g.
#                                    /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 (libmimalloc2.0)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in perf:linux-perf valgrind:valgrind wrk:wrk nginx:nginx; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake --preset release >/dev/null
cmake --build --preset release --target smart-api upstream-sim >/dev/null
bin=build/release

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1 # a process that is starting
  done
  echo "profile: port $1 did not open" >&2
  tail -n 5 "$work"/*.log >&2
  exit 1
}

sim_port=$(free_port)
taskset -c 1 "$bin/upstream-sim" --host 127.0.0.1 --port "$sim_port" --threads 1 \
  --latency fixed:0 --failures none --body '{"time": 1}' >"$work/sim.log" 2>&1 &
pids+=($!)
wait_port "$sim_port"

nginx_conf() { # port, extra top-level lines
  cat <<EOF
$2
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  upstream work { server 127.0.0.1:$sim_port; keepalive 128; }
  server {
    listen 127.0.0.1:$1;
    location /api/smart {
      proxy_pass http://work/api/work;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}

api_args() { echo --host 127.0.0.1 --port "$1" --upstream-url "http://127.0.0.1:$sim_port/api/work" \
  --log-file= --access-log off --threads 1; }

# --- system calls per request, at full load ----------------------------------
syscalls="recvfrom sendto sendmsg writev readv epoll_wait epoll_ctl getsockopt timerfd_settime"
events=$(for s in $syscalls; do printf 'syscalls:sys_enter_%s,' "$s"; done)
count_syscalls() { # name, pid, port
  taskset -c 1 wrk -t1 -c64 -d6s "http://127.0.0.1:$3/api/smart" >"$work/wrk-$1.txt" &
  local load=$!
  sleep 1 # counting starts once the load is steady
  perf stat -x, -e "${events%,}" -p "$2" -- sleep 4 2>"$work/perf-$1.txt"
  wait "$load"
  # Requests counted by their writes: each proxied request is exactly two, the
  # request upstream and the response to the client (small, so each goes out
  # in one call).
  awk -F, -v name="$1" '
    { n = $1 + 0; split($3, e, "sys_enter_"); count[e[2]] = n; total += n }
    END {
      requests = (count["sendto"] + count["sendmsg"] + count["writev"]) / 2
      printf "%s: %.2f system calls per request:", name, total / requests
      for (k in count) if (count[k] > 0) printf " %s %.2f", k, count[k] / requests
      printf "\n"
    }' "$work/perf-$1.txt"
}

ng_port=$(free_port)
nginx_conf "$ng_port" "" >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
api_port=$(free_port)
# shellcheck disable=SC2046 # word splitting of the argument list is intended
taskset -c 0 "$bin/smart-api" $(api_args "$api_port") >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_port "$ng_port"
wait_port "$api_port"
master=$(cat "$work/nginx-$ng_port.pid")
ng_worker=$(awk '{print $1}' "/proc/$master/task/$master/children")

echo "== system calls per request (wrk -c64, 4 s at full load)"
count_syscalls nginx "$ng_worker" "$ng_port"
count_syscalls smart-api "$api_pid" "$api_port"

# --- user-space instructions per request -------------------------------------
instructions() { # name, port, library to preload (or ""), command...
  local name=$1 port=$2 preload=$3
  shift 3
  env ${preload:+LD_PRELOAD="$preload"} valgrind --tool=callgrind \
    --callgrind-out-file="$work/cg-$name" "$@" >"$work/vg-$name.log" 2>&1 &
  local vg=$!
  wait_port "$port"
  taskset -c 1 wrk -t1 -c16 -d10s "http://127.0.0.1:$port/api/smart" >"$work/wrk-cg-$name.txt"
  kill -INT "$vg"
  wait "$vg" || true
  local requests ir
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-cg-$name.txt")
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg-$name")
  printf '%s: %d instructions per request (%d requests; start-up and shutdown included)\n' \
    "$name" $((ir / requests)) "$requests"
}

echo "== user-space instructions per request (callgrind, wrk -c16 for 10 s)"
ng2_port=$(free_port)
nginx_conf "$ng2_port" "master_process off;" >"$work/nginx-cg.conf"
instructions nginx "$ng2_port" "" nginx -c "$work/nginx-cg.conf" -p "$work"
cg_port=$(free_port)
# shellcheck disable=SC2046
instructions smart-api "$cg_port" "" "$bin/smart-api" $(api_args "$cg_port")
for lib in "$@"; do
  cg_port=$(free_port)
  # shellcheck disable=SC2046
  instructions "smart-api with $(basename "$lib")" "$cg_port" "$lib" \
    "$bin/smart-api" $(api_args "$cg_port")
done
