#!/usr/bin/env bash
# A throwaway one-node Slurm cluster on this machine, for testing `tune --executor slurm` against a
# real scheduler: this host is the controller and the only compute node (its cores and memory, as
# `slurmd -C` reads them at start), with job accounting (slurmdbd on a private MariaDB), so that
# `sacct` answers as on a real cluster. Everything lives in one folder and nothing outside it
# is touched: /etc/slurm and /etc/munge are left alone, and clients find the cluster through
# SLURM_CONF.
#
#   scripts/slurm_cluster.sh install       Debian packages (root): slurm-wlm munge slurmdbd mariadb-server
#   scripts/slurm_cluster.sh start [DIR]   start the cluster in DIR (default /tmp/algobench-slurm);
#                                          prints `export SLURM_CONF=DIR/slurm.conf` last
#   scripts/slurm_cluster.sh stop [DIR]    cancel its jobs, stop its daemons by PID, keep DIR
#
# Must run as root (the daemons and the jobs run as root). The ports are ALGOBENCH_SLURM_PORT
# (default 16817) to +3: slurmctld, slurmd, slurmdbd, mariadbd (127.0.0.1 only).
# A start that fails stops what it started, unless ALGOBENCH_SLURM_KEEP=1 (to look at them).
set -euo pipefail

PACKAGES="slurm-wlm munge slurmdbd mariadb-server"
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"  # in start order; stopped in reverse
PORT=${ALGOBENCH_SLURM_PORT:-16817}

die() { echo "slurm_cluster.sh: $*" >&2; exit 1; }

missing_binaries() {
  local b
  for b in munged mungekey mariadbd slurmdbd slurmctld slurmd sbatch sacct sacctmgr scontrol; do
    command -v "$b" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$b" >/dev/null || echo -n "$b "
  done
}

install() {
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get); run it as root"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
}

# run a daemon in the foreground of a background process of its own; its PID goes to DIR/pids
launch() {
  local name=$1; shift
  setsid "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
  echo "$name $!" >>"$DIR/pids"
}

# wait up to $1 seconds for a command to succeed
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { [ -n "${ALGOBENCH_SLURM_KEEP:-}" ] || stop; die "$what did not come up within ${limit}s (logs: $DIR/log)"; }
    sleep 0.2
  done
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root (slurmd runs jobs as their user); run it as root"
  local missing; missing=$(missing_binaries)
  [ -z "$missing" ] || die "missing: $missing- run 'scripts/slurm_cluster.sh install' first"
  export PATH="$PATH:/usr/sbin"
  if [ -e "$DIR/pids" ]; then stop; fi
  local begin=$SECONDS
  rm -rf "$DIR"
  mkdir -p -m 0700 "$DIR"
  mkdir -p "$DIR/log" "$DIR/state" "$DIR/spool" "$DIR/munge" "$DIR/mysql"
  chmod 0700 "$DIR/munge"
  : >"$DIR/pids"
  local host; host=$(hostname -s)
  local node; node=$(slurmd -C | head -1)  # NodeName=<host> CPUs=.. ..RealMemory=..

  mungekey --create --keyfile "$DIR/munge/munge.key"
  launch munged munged --foreground --force --key-file "$DIR/munge/munge.key" \
    --socket "$DIR/munge/munge.socket" --pid-file "$DIR/munge/munged.pid" \
    --log-file "$DIR/log/munged.log" --seed-file "$DIR/munge/munged.seed"

  # a private database without privilege tables: no passwords, reachable from 127.0.0.1 only
  launch mariadbd mariadbd --no-defaults --datadir="$DIR/mysql" --user=root --skip-grant-tables \
    --bind-address=127.0.0.1 --port=$((PORT + 3)) --socket="$DIR/mysql/mysqld.sock" \
    --pid-file="$DIR/mysql/mariadbd.pid" --log-error="$DIR/log/mariadbd.log"

  cat >"$DIR/slurm.conf" <<EOF
# written by scripts/slurm_cluster.sh: a one-node test cluster
ClusterName=algobench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=20
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# scheduling passes every few seconds (defaults: 60 s and 30 s), so that tests wait less
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
AccountingStoragePass=$DIR/munge/munge.socket
# a job over its time limit or requeued gets SIGTERM, then SIGKILL after KillWait seconds
KillWait=10
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
  chmod 0600 "$DIR/slurmdbd.conf"
  export SLURM_CONF="$DIR/slurm.conf"  # slurmdbd finds slurmdbd.conf beside it

  wait_for 60 munged test -S "$DIR/munge/munge.socket"
  wait_for 120 mariadbd test -S "$DIR/mysql/mysqld.sock"
  launch slurmdbd slurmdbd -D
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster algobench >/dev/null
  launch slurmctld slurmctld -D -i
  wait_for 60 slurmctld scontrol ping
  launch slurmd slurmd -D
  wait_for 60 "the node" bash -c '[ "$(sinfo -h -o %t)" = idle ]'
  echo "slurm cluster up in $((SECONDS - begin)) s: $node, partition debug; logs in $DIR/log"
  echo "export SLURM_CONF=$DIR/slurm.conf"
}

stop() {
  [ -e "$DIR/pids" ] || { echo "no cluster started in $DIR"; return 0; }
  export SLURM_CONF="$DIR/slurm.conf" PATH="$PATH:/usr/sbin"
  # jobs first, while slurmd can still stop their processes
  local jobs; jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    timeout 10 scancel $jobs 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while [ -n "$(timeout 10 squeue -h -o %A 2>/dev/null || true)" ] && [ $SECONDS -lt $deadline ]; do
      sleep 0.5
    done
  fi
  local name pid
  for name in $(echo $DAEMONS | tr ' ' '\n' | tac); do
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$DIR/pids")
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$DIR/pids"
  echo "slurm cluster in $DIR stopped"
}

COMMAND=${1:-}
DIR=$(realpath -m "${2:-/tmp/algobench-slurm}")
case "$COMMAND" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: scripts/slurm_cluster.sh install | start [DIR] | stop [DIR]" ;;
esac
