#!/bin/sh
# Worker log throughput: one worker printing as fast as it can, against
# `seq | cat > file` in the same run (README "Worker logs", BENCHMARKS.md).
#
# The worker is a dynmgrd exec worker whose command writes N numbered lines to
# its stderr (`seq 1 N >&2`): the worker's stderr pipe, read by the log
# collector, timestamped and written to <log dir>/log-bench.log. The clock
# runs from the put until the file's last record is line N. The baseline is
# the same generator into `cat > file` (a pipe, a reader, a file; no
# timestamps, no records).
#   usage: bench/log_bench.sh [BUILD_DIR] [N]      (default: build 1000000)
set -eu
build=${1:-build}
n=${2:-1000000}
bin="$build/bin"
[ -x "$bin/dynmgrd" ] && [ -x "$bin/dynmgrctl" ] || { echo "log_bench: build dynmgrd and dynmgrctl first" >&2; exit 2; }
work=$(mktemp -d)
name="logbench$$"
cleanup() {
  "$bin/dynmgrctl" -n "$name" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
now_ns() { date +%s%N; }

# Baseline: the same lines through a pipe into cat > file.
t0=$(now_ns)
seq 1 "$n" | cat > "$work/cat.out"
t1=$(now_ns)
cat_ns=$((t1 - t0))

"$bin/dynmgrd" -n "$name" --daemon --log-file "$work/dynmgrd.log" --no-state \
  --log-dir "$work/logs" --log-max-bytes 1099511627776
t0=$(now_ns)
"$bin/dynmgrctl" -n "$name" put log-bench --timeout 0 --exec sh -c "echo '{\"ready\":true}'; seq 1 $n >&2; exec sleep 100000" >/dev/null
file="$work/logs/log-bench.log"
until [ -f "$file" ] && tail -c 64 "$file" | grep -q " err $n\$"; do
  sleep 0.01   # a benchmark's polling interval (bounded by the 10 ms it adds at most)
done
t1=$(now_ns)
log_ns=$((t1 - t0))
lines=$(grep -c ' err ' "$file")
[ "$lines" -eq "$n" ] || { echo "log_bench: $lines lines in the log, want $n" >&2; exit 1; }

python3 - "$n" "$cat_ns" "$log_ns" <<'PY'
import sys
n, cat_ns, log_ns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cat, log = n / (cat_ns / 1e9), n / (log_ns / 1e9)
print(f"lines                 {n}")
print(f"seq | cat > file      {cat:12,.0f} lines/s  ({cat_ns / 1e6:.0f} ms)")
print(f"worker -> log file    {log:12,.0f} lines/s  ({log_ns / 1e6:.0f} ms, put and worker start included)")
print(f"ratio log / cat       {log / cat:.2f}")
PY
