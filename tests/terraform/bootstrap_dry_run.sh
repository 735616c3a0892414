#!/usr/bin/env bash
# Dry run of the rendered bootstrap (user data) for each role, twice, with the
# system commands it calls (apt-get, docker, git, systemctl, swapon, ...)
# replaced by stubs that record their arguments, and every path it writes moved
# into a scratch folder. Checks the files it writes (compose.env, .env and its
# mode, the systemd unit, the fleet's Prometheus configuration), the commands
# it runs for each role, and that a second run adds nothing twice. The compose
# commands must be the README's "On a server" steps: exactly those for the
# whole stack (single), the same restricted to its services for the others.
#
#   tests/terraform/bootstrap_dry_run.sh RENDERED_DIR
#
# RENDERED_DIR holds user_data.<role>.sh as check.sh renders them.
set -euo pipefail
cd "$(dirname "$0")/../.."
rendered=$1
repo=$PWD
failures=0

check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}
has() { grep -qF -- "$2" "$1"; }
has_line() { grep -qxF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
count_is() { [[ $(grep -cF -- "$2" "$1") == "$3" ]]; }
starts_is() { [[ $(grep -c "^$2" "$1") == "$3" ]]; } # lines of $1 starting with $2 (a regex): $3
mode_is() { [[ $(stat -c %a "$1") == "$2" ]]; }
no_temporary_files() { [[ -z $(find "$@" \( -name '*.new' -o -name '.env.*' \) -print) ]]; }

# The compose commands of the README's "On a server" steps, comments dropped.
readme_compose_steps() { # readme_compose_steps README
  awk '/^### On a server/ { section = 1; next }
       section && /^```sh/ { block = 1; next }
       block && /^```/ { exit }
       block' "$1" | sed -e 's/[[:space:]]*#.*$//' | grep '^docker compose '
}
# The compose commands of a dry run, in order and each once (the second run
# repeats the first), then the unit's start and stop with the role's services.
bootstrap_compose_steps() { # bootstrap_compose_steps CALLS UNIT UP_ARGS
  grep '^docker compose ' "$1" | grep -v '^docker compose version' | awk '!seen[$0]++'
  sed -n -e 's#^ExecStart=/usr/bin/##p' -e 's#^ExecStop=/usr/bin/##p' "$2" |
    sed "s# \$SMART_API_UP_ARGS\$#${3:+ $3}#"
}
# A command without its service names and --no-deps: what a partial stack
# shares with the whole one.
compose_services=$(awk '/^services:/ { s = 1; next } /^[^ #]/ { s = 0 }
                        s && /^  [A-Za-z0-9_-]+:$/ { sub(":", ""); print $1 }' docker-compose.yml)
shape() {
  local service
  sed -e 's/ --no-deps//g' | while read -r line; do
    for service in $compose_services; do
      line=$(sed -E "s/ $service( |\$)/\1/g" <<<"$line")
    done
    echo "$line"
  done | awk '!seen[$0]++'
}
same_steps() { # same_steps README_STEPS BOOTSTRAP_STEPS: identical lists, else a diff
  diff -u --label README --label bootstrap "$1" "$2"
}
same_shape() { # same_shape README_STEPS BOOTSTRAP_STEPS: each bootstrap step is a README one for fewer services
  local missing
  # The monitoring host also checks its own Prometheus configuration with
  # `docker compose run ... promtool`, a step the README's whole stack has no need of.
  missing=$(grep -v '^docker compose run ' "$2" | shape | grep -vxF -f <(shape <"$1") || true)
  if [[ -n $missing ]]; then
    echo "not among the README's steps: $missing"
    return 1
  fi
}

readme_steps=$(mktemp)
single_steps=$(mktemp)
service_steps=$(mktemp)
mutated=$(mktemp)
trap 'rm -f "$readme_steps" "$single_steps" "$service_steps" "$mutated"' EXIT
readme_compose_steps README.md >"$readme_steps" || true
if [[ ! -s $readme_steps ]]; then
  echo "FAIL README.md: no docker compose commands in the first sh block under '### On a server'"
  exit 1
fi

make_stubs() { # make_stubs DIR: the commands the bootstrap runs, recording to $DIR/calls
  local dir=$1
  mkdir -p "$dir/bin"
  cat >"$dir/bin/stub" <<'EOF'
#!/usr/bin/env bash
# One stub for every command: records "name args" and answers what the
# bootstrap reads back.
name=$(basename "$0")
echo "$name $*" >>"$STUB_DIR/calls"
case "$name $*" in
  "docker compose version --short") echo 2.29.1 ;;
  "docker compose version") echo "Docker Compose version v2.29.1" ;;
  "docker --version") echo "Docker version 27.1.1" ;;
  "git clone"*)
    dest=${*: -1}
    mkdir -p "$dest/.git" "$dest/prometheus"
    cp "$STUB_REPO/docker-compose.yml" "$dest/"
    cp "$STUB_REPO/prometheus/alerts.yml" "$dest/prometheus/"
    ;;
  "git -C "*" rev-parse --quiet --verify refs/remotes/origin/main^{commit}") echo 0123456789abcdef ;;
  "git -C "*" rev-parse --quiet --verify "*) exit 1 ;;
  "git -C "*" rev-parse --short=12 HEAD") echo 0123456789ab ;;
  "swapon --show=NAME --noheadings") cat "$STUB_DIR/swaps" 2>/dev/null || true ;;
  "swapon --show=NAME,SIZE --noheadings") sed 's/$/ 4G/' "$STUB_DIR/swaps" 2>/dev/null || true ;;
  "swapon "*) echo "$1" >>"$STUB_DIR/swaps" ;;
  "fallocate -l "*) : >"$3" ;;
esac
exit 0
EOF
  chmod +x "$dir/bin/stub"
  local command
  for command in apt-get curl gpg docker git systemctl swapon fallocate mkswap dpkg; do
    ln -sf stub "$dir/bin/$command"
  done
}

# run_role ROLE: runs the rendered script for ROLE twice in a fresh scratch
# folder; leaves its results in $root.
run_role() {
  local role=$1 run
  root=$(mktemp -d)
  make_stubs "$root"
  mkdir -p "$root/etc" "$root/sbin"
  : >"$root/fstab"
  # Every absolute path the bootstrap writes, moved into the scratch folder.
  sed -e "s#^LOG=/var/log/#LOG=$root/#" \
    -e "s#^SRC=/opt/smart-api#SRC=$root/src#" \
    -e "s#^CONF=/etc/smart-api#CONF=$root/etc/smart-api#" \
    -e "s#^UNIT=/etc/systemd/system/#UNIT=$root/etc/#" \
    -e "s#^SELF=/usr/local/sbin/#SELF=$root/sbin/#" \
    -e "s#/run/smart-api-bootstrap.lock#$root/lock#" \
    -e "s#/swapfile#$root/swapfile#g" \
    -e "s#/etc/fstab#$root/fstab#g" \
    "$rendered/user_data.$role.sh" >"$root/user-data"
  chmod +x "$root/user-data"
  if grep -nE '(/var/log|/opt|/etc/smart-api|/etc/systemd|/usr/local/sbin)/' "$root/user-data" |
    grep -vE '^[0-9]+:\s*#' | grep -v "$root" >"$root/unmoved"; then
    echo "FAIL $role: paths not moved into the scratch folder:"
    cat "$root/unmoved"
    failures=$((failures + 1))
    return 1
  fi
  for run in 1 2; do
    if ! env PATH="$root/bin:$PATH" STUB_DIR="$root" STUB_REPO="$repo" "$root/user-data" >"$root/run$run.out" 2>&1; then
      echo "FAIL $role: run $run exited with an error:"
      tail -n 20 "$root/run$run.out"
      failures=$((failures + 1))
      return 1
    fi
  done
}

for role in single service service-upstream monitoring; do
  echo "-- $role"
  run_role "$role" || continue
  calls=$root/calls
  env=$root/etc/smart-api/compose.env
  unit=$root/etc/smart-api.service
  check "both runs finish" count_is "$root/smart-api-bootstrap.log" "smart-api-bootstrap: done: role" 2
  check "the log holds both runs" count_is "$root/smart-api-bootstrap.log" "smart-api-bootstrap: start: role" 2
  check "the first run clones" starts_is "$calls" "git clone" 1
  check "the second run fetches" count_is "$calls" " fetch " 1
  check "a branch is checked out as the remote has it" has "$calls" "checkout --quiet --force --detach origin/main"
  check "a copy of the bootstrap is kept" test -x "$root/sbin/smart-api-bootstrap"
  check "compose.env: the service's threads are the vCPUs" has "$env" "SMART_THREADS=$(nproc)"
  check "compose.env: the revision" has "$env" "REVISION=0123456789ab"
  check ".env is readable by root only" mode_is "$root/src/.env" 600
  bootstrap_compose_steps "$calls" "$unit" "$(sed -n "s/^SMART_API_UP_ARGS='\(.*\)'$/\1/p" "$env")" >"$root/steps"
  check "the unit is a oneshot that stays active" has "$unit" "RemainAfterExit=yes"
  check "the unit starts the stack with docker compose up -d" has "$unit" "ExecStart=/usr/bin/docker compose up -d"
  check "the unit stops it with docker compose stop" has "$unit" "ExecStop=/usr/bin/docker compose stop"
  check "the unit needs docker" has "$unit" "Requires=docker.service"
  check "the unit is enabled and started" has "$calls" "systemctl reload-or-restart smart-api.service"
  check "no stray temporary files" no_temporary_files "$root/etc" "$root/src"
  case $role in
    single | service)
      check "one swap file line in fstab after two runs" count_is "$root/fstab" "swapfile none swap sw 0 0" 1
      check "the swap file is turned on once" starts_is "$calls" "swapon $root/swapfile" 1
      check "compose.env: the simulator as upstream" has "$env" "SMART_UPSTREAM_URL='http://upstream-sim:9000/api/work'"
      check "the simulator and the api are built" has "$calls" "docker compose build upstream-sim"
      check "the api is built" has "$calls" "docker compose build api"
      ;;
  esac
  case $role in
    single)
      check "the whole stack starts" has "$env" "SMART_API_UP_ARGS=''"
      check ".env: the admin password" has "$root/src/.env" "GRAFANA_ADMIN_PASSWORD='sample-password-1234'"
      check "Prometheus and Grafana are pulled" has "$calls" "docker compose pull --ignore-buildable"
      check "the compose commands are the README's, in its order" same_steps "$readme_steps" "$root/steps"
      cp "$root/steps" "$single_steps"
      check "the repository's Prometheus configuration is used" has_line "$env" "COMPOSE_FILE=$root/src/docker-compose.yml"
      ;;
    service)
      check "the api and the simulator start" has "$env" "SMART_API_UP_ARGS='api upstream-sim'"
      check ".env: no password" lacks "$root/src/.env" "GRAFANA_ADMIN_PASSWORD"
      check "nothing is pulled" lacks "$calls" "docker compose pull"
      ;;
    service-upstream)
      check "no swap file when none is wanted" test ! -e "$root/swapfile"
      check "the api alone starts" has "$env" "SMART_API_UP_ARGS='--no-deps api'"
      check "compose.env: the real upstream" has "$env" "SMART_UPSTREAM_URL='https://upstream.example.com/api/work'"
      check "the simulator is not built" lacks "$calls" "docker compose build upstream-sim"
      ;;
    monitoring)
      check "Prometheus and Grafana start alone" has "$env" "SMART_API_UP_ARGS='--no-deps prometheus grafana'"
      check "nothing is built" lacks "$calls" "docker compose build"
      check "the override file is used" has "$env" "COMPOSE_FILE=$root/src/docker-compose.yml:$root/etc/smart-api/compose.aws.yml"
      check "prometheus.yml: EC2 discovery" has "$root/etc/smart-api/prometheus/prometheus.yml" "ec2_sd_configs:"
      check "alerts.yml: the repository's rules" cmp -s prometheus/alerts.yml "$root/etc/smart-api/prometheus/alerts.yml"
      check "Prometheus reads the written configuration" has "$root/etc/smart-api/compose.aws.yml" "--config.file=/etc/prometheus-aws/prometheus.yml"
      check "promtool checks it" has "$calls" "docker compose run --rm --no-deps --entrypoint promtool prometheus check config"
      check ".env: the admin password" has "$root/src/.env" "GRAFANA_ADMIN_PASSWORD='sample-password-1234'"
      ;;
  esac
  if [[ $role != single ]]; then
    check "the compose commands are the README's, for this role's services" same_shape "$readme_steps" "$root/steps"
  fi
  if [[ $role == service ]]; then
    cp "$root/steps" "$service_steps"
  fi
  check "the password is not in the log" lacks "$root/smart-api-bootstrap.log" "sample-password-1234"
  rm -rf "$root"
done

echo "-- the comparison with the README catches a difference"
not() { ! "$@" >/dev/null; }
differs() { # differs DESCRIPTION SED-SCRIPT: the README's steps, edited so, must no longer match
  sed -e "$2" "$readme_steps" >"$mutated"
  check "$1" not same_steps "$mutated" "$single_steps"
}
differs "a step left out of the README" "\$d"
differs "a flag changed in the README" 's/ --no-build/ --build/'
differs "two steps swapped in the README" '1{h;d};2{G}'
sed -e 's/ --no-build/ --build/' "$readme_steps" >"$mutated"
check "a fleet step that the README lacks" not same_shape "$mutated" "$service_steps"

if ((failures)); then
  echo "bootstrap dry run: $failures check(s) failed"
  exit 1
fi
echo "bootstrap dry run: every check holds"
