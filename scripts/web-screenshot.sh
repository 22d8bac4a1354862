#!/bin/sh
# Regenerates docs/web.png, the README's picture of the web dashboard, from a
# real run: a dynmgrd fleet of sh workers (examples/exec/echo.sh), a few of
# them SIGKILLed over a couple of minutes so that the charts and the event list
# have something to show, then headless Chromium's screenshot of the page,
# taken over the DevTools protocol once the page has drawn its table, its
# charts and its live stream (the browser test's helper: WebBrowser.DISABLED_Screenshot).
#
#   scripts/web-screenshot.sh [BUILD_DIR] [OUTPUT.png]     (defaults: build docs/web.png)
#
# Needs the built binaries and tests, and Debian's chromium. Takes about three minutes.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
OUT=${2:-$ROOT/docs/web.png}
NAME=webshot$$
PORT=${DYNMGR_WEB_PORT:-19464}
CTL="$BUILD/bin/dynmgrctl -n $NAME"
PROFILE=$(mktemp -d /tmp/dynmgr-webshot.XXXXXX)

cleanup() {
  $CTL stop >/dev/null 2>&1 || true
  rm -rf "$PROFILE"
}
trap cleanup EXIT INT TERM

"$BUILD/bin/dynmgrd" -n "$NAME" --daemon --no-state --log-file "$PROFILE/dynmgrd.log" \
  --metrics-listen "127.0.0.1:$PORT" --exec sh "$ROOT/examples/exec/echo.sh"
for id in api-gateway billing-worker crawler-eu crawler-us mailer report-builder \
          thumbnailer indexer "queue/priority" "ünïcode-id"; do
  $CTL put "$id" --timeout 1000 --payload '{"started":"demo"}' >/dev/null
done
$CTL put flaky --timeout 1000 --payload '{}' >/dev/null

pid_of() { $CTL get "$1" --json | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'; }
# Two minutes of trouble: a few kills spread over the minutes the chart shows.
for round in 1 2 3 4 5 6 7 8 9 10 11 12; do
  for id in flaky crawler-eu; do
    pid=$(pid_of "$id"); [ -n "$pid" ] && [ "$pid" -gt 0 ] && kill -KILL "$pid" 2>/dev/null || true
  done
  if [ $((round % 4)) -eq 0 ]; then
    pid=$(pid_of mailer); [ -n "$pid" ] && [ "$pid" -gt 0 ] && kill -KILL "$pid" || true
  fi
  sleep 10
done
$CTL del report-builder >/dev/null

mkdir -p "$(dirname "$OUT")"
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
DYNMGR_WEB_URL="http://127.0.0.1:$PORT/" DYNMGR_WEB_SCREENSHOT="$OUT" \
  "$BUILD/tests/web_browser_test" --gtest_also_run_disabled_tests \
  --gtest_filter=WebBrowser.DISABLED_Screenshot >"$PROFILE/shot.log" 2>&1 ||
  { cat "$PROFILE/shot.log" >&2; exit 1; }
[ -s "$OUT" ] || { echo "no screenshot written" >&2; exit 1; }
echo "wrote $OUT"
