#!/usr/bin/env bash
# tests/slurm/cluster.sh -- a real, single-node Slurm cluster for rewild's tests.
#
# Usage:  tests/slurm/cluster.sh start|stop|status|requeue-exit CODES
#
#   start   Install Debian `slurm-wlm` + `munge` with apt-get if they are missing, start munged (unless one
#           already runs), write /etc/slurm/slurm.conf and /etc/slurm/gres.conf, create two fake GPU
#           character devices (/dev/rewild-fake-gpu0, /dev/rewild-fake-gpu1, made with mknod), start
#           slurmctld and slurmd and wait until `sinfo` shows the node idle.  Idempotent: when our cluster
#           already runs it only checks that the node is up.
#   stop    Cancel the jobs of our cluster, stop the daemons this script started (pid files under the
#           harness dir; never by name), remove the config files and device nodes it created.  Installed
#           packages and the munge key are left in place.  Idempotent.
#   status  Print daemon and node state; exit 0 when our cluster is up, 1 otherwise.
#   requeue-exit CODES
#           Set slurm.conf's RequeueExit (Slurm requeues a batch job that exits with one of CODES, e.g. "1,137")
#           and reconfigure the running cluster; "none" removes it (the default: no RequeueExit line). Sites
#           that set it are the case of snakemake-executor-plugin-slurm #353 (tests/slurm/test_slurm_requeue.py).
#
# The cluster: one node named after `hostname -s` (address 127.0.0.1) with CPUs=`nproc`, RealMemory =
# `free -m` total minus headroom, Gres=gpu:2 (AutoDetect=off); partitions `cpu` (default) and `gpu`;
# select/cons_tres with CR_CPU_Memory, proctrack/linuxproc, task/affinity (task/none makes GPU job steps
# fail), no accounting (accounting_storage/none: status comes from squeue, so MinJobAge is large).
# The config is written to the default path /etc/slurm because job steps run `srun`, which does not see a
# SLURM_CONF from the submitting shell.
#
# Safety: it never overwrites or stops a Slurm it did not set up.  If a slurmctld/slurmd it did not start is
# running, or /etc/slurm/slurm.conf or gres.conf exists without our header line, `start` refuses (exit 3).
#
# Environment:
#   REWILD_SLURM_HARNESS_DIR   state/spool/log/pid dir (default /var/tmp/rewild-slurm-harness)
#   REWILD_SLURM_MEM_HEADROOM  MB kept back from RealMemory (default: max(1024, 10% of total))
#   REWILD_SLURM_START_TIMEOUT seconds to wait for the node to become idle (default 60)
#
# Exit codes: 0 ok; 1 failure (see the logs under the harness dir); 2 prerequisites missing (not root, or
# apt-get could not install the packages) -- tests skip on 2; 3 refused: a foreign Slurm is present.
set -uo pipefail

HEADER="# rewild-slurm-harness: written by tests/slurm/cluster.sh -- safe to delete via 'cluster.sh stop'"
H="${REWILD_SLURM_HARNESS_DIR:-/var/tmp/rewild-slurm-harness}"
CONF_DIR=/etc/slurm
SLURM_CONF_FILE="$CONF_DIR/slurm.conf"
GRES_CONF_FILE="$CONF_DIR/gres.conf"
FAKE_GPUS=(/dev/rewild-fake-gpu0 /dev/rewild-fake-gpu1)
NODE="$(hostname -s)"
START_TIMEOUT="${REWILD_SLURM_START_TIMEOUT:-60}"

log() { echo "cluster.sh: $*" >&2; }
die() { local rc="$1"; shift; log "$*"; exit "$rc"; }

# pid from a pid file if that process is alive and its name matches
live_pid() {  # $1 pidfile, $2 expected comm
  local f="$1" name="$2" pid
  [[ -s "$f" ]] || return 1
  pid="$(head -n1 "$f" | tr -dc 0-9)"
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm")" == "$name" ]] || return 1
  echo "$pid"
}

# pids of processes called $1 that are not ours ($2 = our pid, may be empty)
foreign_pids() {
  local name="$1" ours="${2:-}" p out=()
  for p in $(pgrep -x "$name" 2>/dev/null); do
    [[ "$p" == "$ours" ]] || out+=("$p")
  done
  echo "${out[@]:-}"
}

is_ours() { [[ -f "$1" ]] && head -n1 "$1" | grep -qF "$HEADER"; }

ctld_pid() { live_pid "$H/run/slurmctld.pid" slurmctld; }
slurmd_pid() { live_pid "$H/run/slurmd.pid" slurmd; }
munged_pid() { live_pid "$H/run/munged.ours.pid" munged; }

node_state() { sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n1; }

check_foreign() {
  local f
  f="$(foreign_pids slurmctld "$(ctld_pid || true)")"
  [[ -z "${f// /}" ]] || die 3 "refusing: a slurmctld not started by this script is running (pid $f); not touching it"
  f="$(foreign_pids slurmd "$(slurmd_pid || true)")"
  [[ -z "${f// /}" ]] || die 3 "refusing: a slurmd not started by this script is running (pid $f); not touching it"
  for f in "$SLURM_CONF_FILE" "$GRES_CONF_FILE"; do
    if [[ -e "$f" ]] && ! is_ours "$f"; then
      die 3 "refusing: $f exists and was not written by this script; will not overwrite a site Slurm config"
    fi
  done
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
     && command -v munged >/dev/null && command -v srun >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die 2 "slurm/munge missing and no apt-get to install them"
  log "installing slurm-wlm and munge with apt-get (non-interactive) ..."
  mkdir -p "$H/log"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } \
        >"$H/log/apt.log" 2>&1; then
    tail -n 20 "$H/log/apt.log" >&2
    die 2 "apt-get could not install slurm-wlm/munge (log: $H/log/apt.log)"
  fi
  command -v slurmctld >/dev/null && command -v munged >/dev/null \
    || die 2 "slurm-wlm/munge installed but daemons not found on PATH"
}

start_munge() {
  local sock=/run/munge/munge.socket.2
  if munged_pid >/dev/null; then return 0; fi
  if pgrep -x munged >/dev/null; then
    log "using the munged that already runs (not started by us; stop will leave it alone)"
    return 0
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey -c -k /etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
  fi
  local owner; owner="$(stat -c %U /etc/munge/munge.key)"
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown "$owner" /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  chmod 755 /run/munge
  rm -f "$sock" "$sock.lock" 2>/dev/null
  if [[ "$owner" == root ]]; then
    munged --pid-file="$H/run/munged.pid" >"$H/log/munged.out" 2>&1 || {
      cat "$H/log/munged.out" >&2; die 1 "munged failed to start"; }
  else
    runuser -u "$owner" -- munged --pid-file=/run/munge/munged.pid >"$H/log/munged.out" 2>&1 || {
      cat "$H/log/munged.out" >&2; die 1 "munged failed to start"; }
    cp /run/munge/munged.pid "$H/run/munged.pid"
  fi
  cp "$H/run/munged.pid" "$H/run/munged.ours.pid"
  local i
  for i in $(seq 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
  munge -n </dev/null | unmunge >/dev/null 2>&1 || die 1 "munge round-trip failed (see $H/log/munged.out)"
}

write_configs() {
  local cpus mem_total headroom mem
  cpus="$(nproc)"
  mem_total="$(free -m | awk '/^Mem:/{print $2}')"
  headroom="${REWILD_SLURM_MEM_HEADROOM:-$(( mem_total / 10 > 1024 ? mem_total / 10 : 1024 ))}"
  mem=$(( mem_total - headroom ))
  (( mem > 256 )) || mem=256
  mkdir -p "$CONF_DIR" "$H/state" "$H/spool" "$H/log" "$H/run"
  local tmp="$SLURM_CONF_FILE.rewild-tmp.$$"
  cat >"$tmp" <<EOF
$HEADER
# Single-node test cluster for rewild (tests/slurm/cluster.sh); state under $H
ClusterName=rewild-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$H/state
SlurmdSpoolDir=$H/spool/slurmd-%n
SlurmctldPidFile=$H/run/slurmctld.pid
SlurmdPidFile=$H/run/slurmd.pid
SlurmctldLogFile=$H/log/slurmctld.log
SlurmdLogFile=$H/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
Waittime=0
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:${#FAKE_GPUS[@]} State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
EOF
  mv -f "$tmp" "$SLURM_CONF_FILE"
  local base="${FAKE_GPUS[0]%0}"   # /dev/rewild-fake-gpu
  tmp="$GRES_CONF_FILE.rewild-tmp.$$"
  cat >"$tmp" <<EOF
$HEADER
AutoDetect=off
NodeName=$NODE Name=gpu File=${base}[0-$(( ${#FAKE_GPUS[@]} - 1 ))]
EOF
  mv -f "$tmp" "$GRES_CONF_FILE"
  local d
  for d in "${FAKE_GPUS[@]}"; do
    if [[ ! -e "$d" ]]; then
      mknod "$d" c 1 3 || die 1 "mknod $d failed"   # same numbers as /dev/null: harmless
      chmod 666 "$d"
      echo "$d" >>"$H/run/devices.ours"
    elif [[ ! -c "$d" ]]; then
      die 1 "$d exists and is not a character device"
    fi
  done
}

wait_idle() {
  local t=0 s
  while (( t < START_TIMEOUT * 2 )); do
    s="$(node_state)"
    case "$s" in
      idle|mix|alloc|comp) return 0 ;;
      down*|drain*|drng*|fail*)
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5; t=$(( t + 1 ))
  done
  log "node $NODE not idle after ${START_TIMEOUT}s (state: '${s:-?}')"
  sinfo -N -l >&2 || true
  tail -n 15 "$H/log/slurmctld.log" "$H/log/slurmd.log" >&2 2>/dev/null || true
  return 1
}

cmd_start() {
  [[ $EUID -eq 0 ]] || die 2 "must run as root (installs packages, writes /etc/slurm, mknod)"
  mkdir -p "$H/run" "$H/log"
  check_foreign
  if ctld_pid >/dev/null && slurmd_pid >/dev/null && is_ours "$SLURM_CONF_FILE"; then
    wait_idle || die 1 "our cluster runs but the node is not usable"
    log "already running (node $NODE)"
    return 0
  fi
  install_packages
  start_munge
  write_configs
  if ! ctld_pid >/dev/null; then
    # -i: ignore state we cannot recover (fresh start each time the harness comes up)
    slurmctld -i >"$H/log/slurmctld.out" 2>&1 || {
      cat "$H/log/slurmctld.out" >&2; tail -n 20 "$H/log/slurmctld.log" >&2 2>/dev/null
      die 1 "slurmctld failed to start"; }
  fi
  if ! slurmd_pid >/dev/null; then
    slurmd >"$H/log/slurmd.out" 2>&1 || {
      cat "$H/log/slurmd.out" >&2; tail -n 20 "$H/log/slurmd.log" >&2 2>/dev/null
      die 1 "slurmd failed to start"; }
  fi
  # daemons write their pid files shortly after forking
  local i
  for i in $(seq 50); do ctld_pid >/dev/null && slurmd_pid >/dev/null && break; sleep 0.2; done
  ctld_pid >/dev/null || { tail -n 20 "$H/log/slurmctld.log" >&2; die 1 "slurmctld is not running"; }
  slurmd_pid >/dev/null || { tail -n 20 "$H/log/slurmd.log" >&2; die 1 "slurmd is not running"; }
  wait_idle || die 1 "cluster started but node did not become idle"
  log "up: node $NODE, partitions cpu (default) and gpu, logs in $H/log"
}

kill_wait() {  # $1 pid, $2 name
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do [[ -d "/proc/$pid" ]] || return 0; sleep 0.2; done
  log "$2 ($pid) did not exit on SIGTERM; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  local pid
  if pid="$(ctld_pid)"; then
    # cancel our cluster's jobs so no job processes outlive it
    if command -v scancel >/dev/null; then
      local jobs; jobs="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
      if [[ -n "${jobs// /}" ]]; then
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        local i; for i in $(seq 20); do
          [[ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ]] && break; sleep 0.5; done
      fi
    fi
  fi
  if pid="$(slurmd_pid)"; then kill_wait "$pid" slurmd; fi
  if pid="$(ctld_pid)"; then kill_wait "$pid" slurmctld; fi
  if pid="$(munged_pid)"; then kill_wait "$pid" munged; fi
  rm -f "$H/run/munged.ours.pid" "$H/run/munged.pid" "$H/run/slurmctld.pid" "$H/run/slurmd.pid"
  local f
  for f in "$SLURM_CONF_FILE" "$GRES_CONF_FILE"; do is_ours "$f" && rm -f "$f"; done
  if [[ -f "$H/run/devices.ours" ]]; then
    while read -r f; do [[ -c "$f" ]] && rm -f "$f"; done <"$H/run/devices.ours"
    rm -f "$H/run/devices.ours"
  fi
  log "stopped (logs kept in $H/log)"
}

cmd_requeue_exit() {  # $1: codes or "none"
  local codes="${1:-}"
  [[ "$codes" == none || "$codes" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] \
    || die 64 "usage: $0 requeue-exit CODES|none (CODES like 1,137 or 100-110)"
  is_ours "$SLURM_CONF_FILE" || die 1 "$SLURM_CONF_FILE is not ours (start the cluster first)"
  ctld_pid >/dev/null || die 1 "slurmctld is not running (start the cluster first)"
  local tmp="$SLURM_CONF_FILE.rewild-tmp.$$"
  grep -v '^RequeueExit=' "$SLURM_CONF_FILE" >"$tmp"
  [[ "$codes" == none ]] || echo "RequeueExit=$codes" >>"$tmp"
  mv -f "$tmp" "$SLURM_CONF_FILE"
  scontrol reconfigure || die 1 "scontrol reconfigure failed"
  local i want="${codes/none/(null)}"
  for i in $(seq 50); do
    [[ "$(scontrol show config | awk -F' = ' '/^RequeueExit /{print $2}')" == "$want" ]] && break; sleep 0.2
  done
  log "RequeueExit=$want"
}

cmd_status() {
  local up=0 pid
  if pid="$(munged_pid)"; then echo "munged: running (pid $pid, ours)"
  elif pgrep -x munged >/dev/null; then echo "munged: running (not ours)"
  else echo "munged: not running"; fi
  if pid="$(ctld_pid)"; then echo "slurmctld: running (pid $pid)"; else echo "slurmctld: not running"; up=1; fi
  if pid="$(slurmd_pid)"; then echo "slurmd: running (pid $pid)"; else echo "slurmd: not running"; up=1; fi
  if is_ours "$SLURM_CONF_FILE"; then echo "config: $SLURM_CONF_FILE (ours)"
  elif [[ -e "$SLURM_CONF_FILE" ]]; then echo "config: $SLURM_CONF_FILE (NOT ours)"; up=1
  else echo "config: none"; up=1; fi
  if (( up == 0 )); then
    local s; s="$(node_state)"
    echo "node: $NODE state=${s:-unknown}"
    case "$s" in idle|mix|alloc|comp) ;; *) up=1 ;; esac
    sinfo 2>/dev/null || true
  fi
  return "$up"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  requeue-exit) cmd_requeue_exit "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|requeue-exit CODES" >&2; exit 64 ;;
esac
