#!/bin/sh
# Issue 14's many-ids figures, in one run: N passive ids (default 100000; the
# target is 1000000) imported with `dynmgrctl import --passive`, then what
# they cost and how fast the verbs stay. Each time comes with a floor from the
# same run (this machine's speed changes from one session to the next):
#   import        `dynmgrctl import --passive FILE`, wall; floor: the same
#                 file through `sqlite3` as one INSERT per line in batches of
#                 128 (what the state database's part of a put costs at least)
#   /dev/shm      committed bytes (du) of the registry and the words object
#                 after the import, per id; and their apparent sizes
#   supervisor    VmRSS, RssAnon and RssShmem of dynmgrd after the import
#   get, call     one id among N, whole `dynmgrctl` process (the call starts
#                 the passive worker); floor: `dynmgrctl get` with 10 ids
#   state --json  of all N ids, wall and the client's max RSS
#   reboot        SIGKILL, /dev/shm removed, a new supervisor on the same
#                 database: time until it is up with the N ids restored,
#                 and the supervisor's memory then
#   stop          `dynmgrctl stop` of that supervisor, wall
#   usage: bench/million_bench.sh [BUILD_DIR] [N]
set -eu
build=${1:-build}
n=${2:-100000}
bin="$build/bin"
probe="$bin/probe"
ctl="$bin/dynmgrctl"
[ -x "$probe" ] && [ -x "$ctl" ] || { echo "million_bench: build $probe and $ctl first" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "million_bench: sqlite3 is needed for the floor" >&2; exit 2; }
name="millionbench$$"
small="millionsmall$$"
dir=$(mktemp -d)
cleanup() {
  "$ctl" -n "$name" --wait 120000 stop >/dev/null 2>&1 || true
  "$ctl" -n "$small" --wait 60000 stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }
# Wall milliseconds of a command (its output discarded).
time_ms() {
  t0=$(now_ms)
  "$@" >/dev/null 2>&1 || { echo "million_bench: failed: $*" >&2; exit 1; }
  echo $(($(now_ms) - t0))
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
shm_kib() { du -k "/dev/shm/$1" | cut -f1; }
shm_apparent_kib() { du -k --apparent-size "/dev/shm/$1" | cut -f1; }

python3 -c "
import sys
for i in range(int(sys.argv[1])):
    print('{\"id\":\"dev-%d\",\"timeout\":0,\"payload\":{\"n\":%d}}' % (i, i))" "$n" >"$dir/ids.jsonl"

echo "== floor: $n rows into sqlite3, 128 per transaction"
python3 -c "
import sys
n = int(sys.argv[1])
print('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;')
print('CREATE TABLE w (id TEXT PRIMARY KEY, spec TEXT, payload TEXT);')
for b in range(0, n, 128):
    print('BEGIN;')
    for i in range(b, min(n, b + 128)):
        print(\"INSERT INTO w VALUES ('dev-%d', '{\\\"timeout\\\":0}', '{\\\"n\\\":%d}');\" % (i, i))
    print('COMMIT;')" "$n" >"$dir/floor.sql"
floor=$(time_ms sqlite3 "$dir/floor.db" ".read $dir/floor.sql")
echo "sqlite3: $floor ms"

uid=$(id -u)
"$probe" -n "$name" --daemon --log-file "$dir/sup.log" --log-level error --max-workers $((n + 16 > 1000000 ? 1000000 : n + 16)) \
  --state-dir "$dir/state"
pid=$("$ctl" -n "$name" --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["supervisor"]["pid"])')
echo "== import --passive of $n ids"
import_ms=$(time_ms "$ctl" -n "$name" --wait 120000 import --passive "$dir/ids.jsonl")
echo "import: $import_ms ms ($((n * 1000 / (import_ms > 0 ? import_ms : 1))) ids/s), $(echo "$import_ms $floor" | awk '{printf "%.1f", $1 / $2}')x the sqlite3 floor"
reg="dynmgr.$uid.$name.registry"
words="dynmgr.$uid.$name.words"
rk=$(shm_kib "$reg")
wk=$(shm_kib "$words")
echo "/dev/shm committed: registry $rk KiB, words $wk KiB: $(((rk + wk) * 1024 / n)) bytes per id (apparent: registry $(shm_apparent_kib "$reg") KiB, words $(shm_apparent_kib "$words") KiB)"
echo "supervisor: VmRSS $(status_kib "$pid" VmRSS) KiB, RssAnon $(status_kib "$pid" RssAnon) KiB, RssShmem $(status_kib "$pid" RssShmem) KiB"

"$probe" -n "$small" --daemon --log-file "$dir/small.log" --log-level error --state-dir "$dir/small"
for i in 0 1 2 3 4 5 6 7 8 9; do "$ctl" -n "$small" put "s$i" --timeout 0 >/dev/null; done
echo "== one id among $n vs among 10 (median of 9, whole process)"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
g_small=$(for i in 1 2 3 4 5 6 7 8 9; do time_ms "$ctl" -n "$small" get s5; done | median)
g_big=$(for i in 1 2 3 4 5 6 7 8 9; do time_ms "$ctl" -n "$name" get "dev-$((n / 2))"; done | median)
echo "get: $g_big ms among $n, $g_small ms among 10"
c_big=$(for i in 1 2 3 4 5 6 7 8 9; do time_ms "$ctl" -n "$name" call "dev-$((n / 3 + i))" '"pid"'; done | median)
echo "call of a passive id (starts its worker): $c_big ms"
echo "== state --json of $n ids"
t0=$(now_ms)
/usr/bin/time -f "%M" -o "$dir/rss" "$ctl" -n "$name" --json state >"$dir/state.json"
echo "state --json: $(($(now_ms) - t0)) ms, $(cat "$dir/rss") KiB max RSS, $(du -k "$dir/state.json" | cut -f1) KiB of JSON"
echo "== a reboot: the supervisor SIGKILLed, its /dev/shm removed, started again on its database"
# The host dies: the supervisor and the workers the calls started, at once.
live=$("$ctl" -n "$name" --json state | python3 -c '
import json, sys
print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"] if w["pid"] > 0))')
# shellcheck disable=SC2086
kill -9 "$pid" $live
for p in "$pid" $live; do while kill -0 "$p" 2>/dev/null; do :; done; done
"$ctl" cleanup "$name" >/dev/null
t0=$(now_ms)
"$probe" -n "$name" --daemon --log-file "$dir/sup.log" --log-level error --max-workers $((n + 16 > 1000000 ? 1000000 : n + 16)) \
  --state-dir "$dir/state"
echo "up again with $n ids restored passive: $(($(now_ms) - t0)) ms"
pid=$("$ctl" -n "$name" --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["supervisor"]["pid"])')
# The restored ids go to sleep in the loop's next turns, and their registry
# pages are unmapped a second after: measured once RssAnon stops falling.
last=$(status_kib "$pid" RssAnon)
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
  sleep 1
  now=$(status_kib "$pid" RssAnon)
  [ "$now" -lt "$last" ] || break
  last=$now
done
sleep 2
echo "supervisor after the reboot: VmRSS $(status_kib "$pid" VmRSS) KiB, RssAnon $(status_kib "$pid" RssAnon) KiB, RssShmem $(status_kib "$pid" RssShmem) KiB"
echo "== a clean stop with $n passive ids"
stop_ms=$(time_ms "$ctl" -n "$name" --wait 120000 stop)
echo "stop: $stop_ms ms"
