#!/bin/sh
# Runs every dynmgr benchmark and prints the results, then the ratios DESIGN §8
# asks for (framed queue vs raw Boost message_queue, measured in the same run).
#   usage: bench/run.sh [BUILD_DIR]        (default: build)
#   env:   BENCH_ARGS  extra Google Benchmark flags, e.g. --benchmark_repetitions=3
set -eu
build=${1:-build}
bin="$build/bin"
for b in registry_bench queue_bench; do
  if [ ! -x "$bin/$b" ]; then
    echo "run.sh: unable to find $bin/$b: build with DYNMGR_BUILD_BENCH=ON and Google Benchmark installed" >&2
    exit 2
  fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
for b in registry_bench queue_bench; do
  echo "== $b"
  # shellcheck disable=SC2086
  "$bin/$b" --benchmark_out="$out/$b.json" --benchmark_out_format=json ${BENCH_ARGS:-}
  echo
done
python3 - "$out/registry_bench.json" "$out/queue_bench.json" <<'PY'
import json, sys
rows, medians = {}, {}
for path in sys.argv[1:]:
    for b in json.load(open(path))["benchmarks"]:
        name = b.get("run_name", b["name"]).split("/")[0]
        if b.get("run_type", "iteration") == "iteration":
            rows[name] = b
        elif b.get("aggregate_name") == "median":
            medians[name] = b
rows.update(medians)  # with --benchmark_repetitions, report medians
def per_op_us(name):
    b = rows.get(name)
    if b is None:
        return None
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
    return b["real_time"] * scale
print("== summary")
snap = per_op_us("BM_Snapshot")
if snap:
    print(f"registry snapshot, 10000 slots : {snap/1e3:8.2f} ms  ({1e6/snap:8.1f} snapshots/s; target <= 100 ms for state --json)")
snapw = per_op_us("BM_SnapshotUnderWrites")
if snapw:
    print(f"  ... while a writer rewrites  : {snapw/1e3:8.2f} ms")
w = per_op_us("BM_WriterUpdate")
if w:
    print(f"writer update (small payload)  : {w*1e3:8.1f} ns  ({1e6/w:12.0f} updates/s)")
raw, framed = per_op_us("BM_RawBoostPingPong"), per_op_us("BM_FramedPingPong")
if raw and framed:
    print(f"ping-pong raw Boost mq         : {raw:8.2f} us")
    print(f"ping-pong dynmgr::Queue        : {framed:8.2f} us  (ratio {framed/raw:.2f}; target <= 2)")
rs, fs = per_op_us("BM_RawBoostStream"), per_op_us("BM_FramedStream")
if rs and fs:
    print(f"one-way stream raw Boost mq    : {1e6/rs:12.0f} msgs/s")
    print(f"one-way stream dynmgr::Queue   : {1e6/fs:12.0f} msgs/s  (target >= 200000 for cast)")
PY

# Process-level benchmarks: dynmgr beside its baseline, in the same run.
# restart_bench twice: back to back (a crash loop with no backoff) and with a
# 20 ms pause after each restart (a crash now and then: the template's spare is
# warm; README "Worker start").
for b in "restart_bench 300 0" "restart_bench 300 20" exec_restart_bench call_bench cli_bench \
         fleet_bench idle_fleet_bench containment_bench import_bench "cluster_bench 300 2000 3"; do
  exe=${b%% *}
  if [ -x "$bin/$exe" ]; then
    echo "== $b"
    # shellcheck disable=SC2086 # the arguments are split on purpose
    "$bin/"$b
    echo
  fi
done
