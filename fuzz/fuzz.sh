#!/bin/sh
# Builds and runs the libFuzzer targets in fuzz/ (README "Fuzzing").
#
#   fuzz.sh build DIR                   configure (clang, -DDYNMGR_FUZZ=ON) and build DIR
#   fuzz.sh smoke DIR TARGET SECONDS    the seed corpus, then SECONDS of mutation;
#                                       new inputs go to a scratch dir (DIR/smoke/TARGET)
#   fuzz.sh long DIR TARGET SECONDS     the same, but new inputs are kept in DIR/corpus/TARGET
#                                       (never in the repository) and reused next time
#   fuzz.sh list                        the target names
#
# A crash leaves its input in DIR/artifacts/ and the command fails.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
targets="frame protocol json exec_lines children registry_reader event_reader"

case "${1:-}" in
list)
  echo "$targets"
  ;;
build)
  dir=$2
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: clang++ not found; scripts/install-deps.sh installs clang and libclang-rt-14-dev" >&2
    exit 1
  fi
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    launcher=""
    command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
    CC=clang CXX=clang++ cmake -S "$src" -B "$dir" -DDYNMGR_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo $launcher >/dev/null
  fi
  cmake --build "$dir" -j "${JOBS:-$(nproc)}"
  ;;
smoke | long)
  mode=$1 dir=$2 t=$3 secs=$4
  bin="$dir/bin/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (fuzz.sh build $dir)" >&2; exit 1; }
  seeds="$src/fuzz/corpus/$t"
  [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 1; }
  if [ "$mode" = smoke ]; then
    work="$dir/smoke/$t"
    rm -rf "$work"
  else
    work="$dir/corpus/$t"
  fi
  mkdir -p "$work" "$dir/artifacts"
  set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-"
  [ -f "$src/fuzz/dict/$t.dict" ] && set -- "$@" -dict="$src/fuzz/dict/$t.dict"
  # The first directory receives what the run finds; the seeds are only read.
  # A target that crashed cannot remove its shared-memory objects
  # (dynmgr.<uid>.fuzz-<what>-<pid>.*): removed here.
  rc=0
  "$bin" "$@" "$work" "$seeds" &
  pid=$!
  trap 'kill $pid 2>/dev/null' INT TERM
  wait $pid || rc=$?
  rm -f /dev/shm/dynmgr."$(id -u)".fuzz-*-"$pid".*
  exit $rc
  ;;
*)
  sed -n '2,12p' "$0" >&2
  exit 2
  ;;
esac
