# Helpers shared by up, down and ctl (sourced, not run). The caller sets
# CLUSTER_DIR and BIN, or sources $CLUSTER_DIR/env.

shopt -s inherit_errexit

die() { echo "${0##*/}: $*" >&2; exit 1; }

# fail MSG LOG: prints MSG and the tail of LOG, then exits 1.
fail() {
  echo "${0##*/}: $1" >&2
  [[ -f $2 ]] && { echo "--- last lines of $2:" >&2; tail -n 40 "$2" >&2; }
  exit 1
}

load_env() {
  [[ -f $1/env ]] || die "$1/env not found: no cluster there (start one with test/cluster/up $1)"
  source "$1/env"
}

# set_env KEY VALUE: sets KEY in $CLUSTER_DIR/env (shell-quoted).
set_env() {
  local f=$CLUSTER_DIR/env
  { grep -v "^$1=" "$f" 2>/dev/null || true; printf '%s=%q\n' "$1" "$2"; } > "$f.tmp"
  mv "$f.tmp" "$f"
}

# ours PID NAME: true if PID is alive and is $BIN/NAME started for $CLUSTER_DIR,
# so a stale or reused pid never makes us touch an unrelated process.
ours() {
  local exe
  [[ -n $1 ]] && exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [[ ${exe% (deleted)} == "$BIN/$2" ]] &&
    tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CLUSTER_DIR/"
}

# stop PID NAME [GRACE]: TERM, up to GRACE (10) s, then KILL. Does nothing
# if PID is not ours.
stop() {
  local i grace=${3:-10}
  ours "$1" "$2" || return 0
  kill -TERM "$1" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do ours "$1" "$2" || return 0; sleep 0.1; done
  ((grace == 0)) || echo "${0##*/}: $2 (pid $1) still running after $grace s, killing it" >&2
  kill -KILL "$1" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do ours "$1" "$2" || return 0; sleep 0.1; done
  die "$2 (pid $1) does not exit"
}

# Without etcd, kube-apiserver's shutdown hooks block on it (removing its peer
# endpoint lease), so a TERM would only cost the full grace period.
stop_apiserver() {
  local grace=10
  ours "$ETCD_PID" etcd || grace=0
  stop "$APISERVER_PID" kube-apiserver "$grace"
}

# On a failed exit, stop what this script started ("pid name" entries), last
# first: an API server whose etcd is gone is slow to stop.
STARTED=()
trap 'rc=$?; if ((rc)); then for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop ${STARTED[i]}; done; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# launch ARGSFILE LOG: starts the command in ARGSFILE (one arg a line) in its
# own session, appending to LOG; prints its pid.
launch() {
  local -a cmd
  mapfile -t cmd < "$1"
  echo "=== $(date '+%F %T') starting ${cmd[0]##*/}" >> "$2"
  setsid nohup "${cmd[@]}" >> "$2" 2>&1 < /dev/null &
  echo $!
}

# wait_up PID NAME LOG CMD...: runs CMD until it succeeds; fails if the process
# exits or after 60 s.
wait_up() {
  local pid=$1 name=$2 log=$3 out end=$((SECONDS + 60))
  shift 3
  until out=$("$@" 2>&1); do
    ours "$pid" "$name" || fail "$name (pid $pid) exited while starting" "$log"
    ((SECONDS < end)) || fail "$name not ready after 60 s: $out" "$log"
    sleep 0.1
  done
}

start_etcd() {
  ETCD_PID=$(launch "$CLUSTER_DIR/etcd.args" "$CLUSTER_DIR/etcd.log")
  STARTED+=("$ETCD_PID etcd")
  set_env ETCD_PID "$ETCD_PID"
  wait_up "$ETCD_PID" etcd "$CLUSTER_DIR/etcd.log" curl -sf "$ETCD_URL/health"
}

start_apiserver() {
  APISERVER_PID=$(launch "$CLUSTER_DIR/apiserver.args" "$CLUSTER_DIR/apiserver.log")
  STARTED+=("$APISERVER_PID kube-apiserver")
  set_env APISERVER_PID "$APISERVER_PID"
  wait_apiserver
}

# Short wait-ready calls in a loop, so a server that dies is noticed at once.
wait_apiserver() {
  wait_up "$APISERVER_PID" kube-apiserver "$CLUSTER_DIR/apiserver.log" \
    "$BIN/clusterctl" wait-ready "$CLUSTER_DIR/pki" "$APISERVER_URL" 2s
}
