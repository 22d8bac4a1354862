#!/bin/sh
# Takeover times with N workers (default 1000), as ratios to a fresh boot of
# the same N workers measured in the same run (process creation speed varies
# a lot between machines and sessions; the ratio does not).
#   fresh boot   start the supervisor with N children; time until `up`
#   adoption     SIGKILL it, start a successor; time until it is `up` with N adopted
#   reexec       `dynmgrctl reexec`; time until the new image answers
#   restore      a simulated reboot (the supervisor and every worker SIGKILLed,
#                the instance's /dev/shm objects removed), then a start: time
#                until it is `up` with N workers restored from its state database
#   usage: bench/adoption_bench.sh [BUILD_DIR] [N]
set -eu
build=${1:-build}
n=${2:-1000}
bin="$build/bin"
probe="$bin/probe"
ctl="$bin/dynmgrctl"
[ -x "$probe" ] && [ -x "$ctl" ] || { echo "adoption_bench: build $probe and $ctl first" >&2; exit 2; }
name="adoptbench$$"
dir=$(mktemp -d)
cleanup() {
  "$ctl" -n "$name" --wait 60000 stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
children=$(python3 -c "import json,sys; print(json.dumps({f'w{i}': {'timeout': 0} for i in range(int(sys.argv[1]))}))" "$n")
now_ms() { python3 -c 'import time; print(int(time.monotonic()*1000))'; }
wait_up() {  # $1: how many adopted to expect (or "any")
  while :; do
    s=$("$ctl" -n "$name" --json state 2>/dev/null || true)
    if printf '%s' "$s" | python3 -c "
import json,sys
want=sys.argv[1]
try: d=json.load(sys.stdin)
except Exception: sys.exit(1)
ok = d['manager']=='up' and d['supervisor'].get('running', True) and len(d['workers'])==int(sys.argv[2])
ok = ok and (want=='any' or d.get('adopted')==int(want))
sys.exit(0 if ok else 1)" "$1" "$n"; then return 0; fi
  done
}
start() {
  PROBE_CHILDREN="$children" "$probe" -n "$name" --max-workers $((n + 16)) --mailbox-depth 4 \
    --daemon --log-file "$dir/log" --state-dir "$dir/state" >/dev/null
}

t0=$(now_ms); start; wait_up any; t1=$(now_ms)
boot=$((t1 - t0))
pid=$("$ctl" -n "$name" --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["supervisor"]["pid"])')
kill -9 "$pid"
while kill -0 "$pid" 2>/dev/null; do :; done
t0=$(now_ms); start; wait_up "$n"; t1=$(now_ms)
adopt=$((t1 - t0))
t0=$(now_ms); "$ctl" -n "$name" --wait 60000 reexec >/dev/null; t1=$(now_ms)
reexec=$((t1 - t0))
pids=$("$ctl" -n "$name" --json state | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(d["supervisor"]["pid"], *[w["pid"] for w in d["workers"] if w["pid"] > 0])')
# shellcheck disable=SC2086
kill -9 $pids
python3 - $pids <<'PY'
import os, sys, time
# Gone, or a zombie nobody has reaped yet: either way it runs no more.
def running(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
while any(running(p) for p in sys.argv[1:]):
    time.sleep(0.01)
PY
rm -f /dev/shm/dynmgr."$(id -u)"."$name".*
t0=$(now_ms); start; wait_up 0; t1=$(now_ms)
restore=$((t1 - t0))
python3 - "$n" "$boot" "$adopt" "$reexec" "$restore" <<'PY'
import sys
n, boot, adopt, reexec, restore = sys.argv[1], *map(int, sys.argv[2:])
print(f"{n} workers: fresh boot {boot} ms (the floor)")
print(f"  adoption after SIGKILL {adopt} ms  = {adopt / boot:.3f} x boot")
print(f"  reexec                 {reexec} ms  = {reexec / boot:.3f} x boot")
print(f"  restore after a reboot {restore} ms  = {restore / boot:.3f} x boot")
PY
