#!/bin/bash
# `bash bench/pg-instructions.sh [JOBS] [flow|behind|idle|later]` (as root, on a machine with PostgreSQL 15's binaries and valgrind): the
# PostgreSQL server's instructions per plain job claimed and completed (bench/claim-cost.ts), counted by valgrind,
# so the figure is the same to <0.1% from run to run where wall and CPU time on this VM move by ±20%.
#
# Runs bench/claim-cost.ts twice (JOBS jobs, default 5,000; once with `add` only), each against a fresh private
# cluster (initdb as user postgres in a temp folder, port 5499, autovacuum, fsync and JIT off) whose postmaster runs
# under callgrind. Collection is off in the postmaster and on inside each child's main function, since forked
# children otherwise start with the postmaster's count. Prints (all − add) / JOBS, summed over every server process.
# The second argument sets the database up first, as bench/claim-cost.ts describes (both runs alike).
# Issue 18's figures in bench/RESULTS.md were taken this way (fac6b18 against main, in worktrees).
set -euo pipefail
JOBS=${1:-5000}
SETUP=${2:-}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PORT=5499
WORK=$(mktemp -d /tmp/pg-instructions.XXXXXX)
chmod 777 "$WORK"
trap 'rm -rf "$WORK"' EXIT
su postgres -c "$BIN/initdb -D $WORK/template -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8" > "$WORK/initdb.log"

# Instructions of every server process of one run of claim-cost.ts ($1: "" or "add").
count() {
  local out=$WORK/out-${1:-all} data=$WORK/data
  rm -rf "$out" "$data"; mkdir -p "$out"; chmod 777 "$out"
  cp -a "$WORK/template" "$data"
  su postgres -c "exec valgrind --tool=callgrind --trace-children=yes --collect-atstart=no \
    --toggle-collect=PostgresMain --toggle-collect=AuxiliaryProcessMain --toggle-collect=StartBackgroundWorker \
    --callgrind-out-file=$out/cg.%p --log-file=$out/vg.%p.log \
    $BIN/postgres -D $data -p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK \
    -c autovacuum=off -c fsync=off -c jit=off" > "$out/server.log" 2>&1 &
  local pm=$!
  # Ready by postmaster.pid, not pg_isready: each probe would start a backend, and their number varies.
  for _ in $(seq 240); do [ "$(sed -n 8p "$data/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ] && break; sleep 0.5; done
  BENCH_PG_URL=postgres://postgres@127.0.0.1:$PORT/postgres node --import tsx bench/claim-cost.ts postgres "$JOBS" $1 $SETUP > "$out/bench.log" 2>&1 \
    || { cat "$out/bench.log" >&2; kill -INT "$(head -1 "$data/postmaster.pid")"; exit 1; }
  kill -INT "$(head -1 "$data/postmaster.pid")" # fast shutdown
  wait "$pm" || true
  local total=0
  for log in "$out"/vg.*.log; do
    local n; n=$(grep -oP 'Collected : \K\d+' "$log" || echo 0)
    total=$((total + n))
  done
  echo "$total"
}

added=$(count add)
all=$(count "")
echo "PostgreSQL server, per plain job claimed and completed${SETUP:+ ($SETUP)}: $(( (all - added) / JOBS )) instructions ($JOBS jobs; all $all, add only $added)"
