#!/bin/sh
# Regenerates docs/top.png, the screenshot of `dynmgrctl top` in README.
#
#   scripts/top-screenshot.sh [BUILD_DIR [OUTPUT_PNG]]   (defaults: build, docs/top.png)
#
# Starts a throwaway dynmgrd with a small fleet of exec workers (Python
# counters, one worker that keeps crashing until it is failed, one SIGKILLed
# once), runs `dynmgrctl top` in a tmux pane of its own, captures the pane
# with its colours (capture-pane -e), turns the ANSI escapes into a
# self-contained HTML page and renders it with headless Chromium.
# Needs tmux, python3 and chromium (Debian packages of those names).
set -eu
BUILD=${1:-build}
OUT=${2:-docs/top.png}
BIN=$(cd "$BUILD/bin" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
NAME=topshot$$
TMP=$(mktemp -d)
export DYNMGR_STATE_ROOT="$TMP/state"
SOCK="dynmgr-$NAME"

cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  "$BIN/dynmgrctl" -n "$NAME" stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

"$BIN/dynmgrd" -n "$NAME" --daemon --no-state --log-file "$TMP/dynmgrd.log"
ctl() { "$BIN/dynmgrctl" -n "$NAME" "$@" >/dev/null; }
for id in scraper-eu-1 scraper-eu-2 scraper-us-1 session-7f3a session-9c21; do
  ctl put "$id" --payload '{"n":0}' --timeout 5000 --cwd "$HERE" \
      --exec python3 examples/exec/counter.py
done
for id in poller-berlin poller-tokyo poller-lagos billing-nightly; do
  ctl put "$id" --timeout 5000 --cwd "$HERE" --exec sh examples/exec/echo.sh
done
# One that keeps failing: restarted with backoff, then failed.
ctl put flaky-import --max-restarts 3 --within 60000 --timeout 1000 --exec sh -c 'sleep 1; exit 3' \
  || true
# One SIGKILLed: its restart count and last exit show it.
pid=$("$BIN/dynmgrctl" -n "$NAME" --json get poller-tokyo | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
kill -KILL "$pid" || { echo "poller-tokyo (pid $pid) is gone:" >&2; tail -5 "$TMP/dynmgrd.log" >&2; }
# Work for the CPU column.
for i in 1 2 3 4 5 6 7 8; do ctl cast session-7f3a '["add", 1]'; done

printf 'set -g status off\nset -g default-terminal screen-256color\n' > "$TMP/tmux.conf"
tmux -L "$SOCK" -f "$TMP/tmux.conf" new-session -d -s top -x 118 -y 34 \
  "TERM=screen-256color $BIN/dynmgrctl -n $NAME top -d 1"
# A few refreshes, so CPU % is a figure between two samples, and the failing
# worker has gone through its restarts.
sleep 6
tmux -L "$SOCK" send-keys -t top Down Down
sleep 1
tmux -L "$SOCK" capture-pane -e -p -t top > "$TMP/screen.ansi"

python3 - "$TMP/screen.ansi" "$TMP/top.html" <<'PY'
import html, re, sys
# The 8 ANSI colours and their bright forms, as a dark terminal theme draws them.
PALETTE = ["#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#dcdfe4",
           "#5c6370", "#ff7b86", "#b5e890", "#ffd68a", "#82c4ff", "#de9bf0", "#7fd6e0", "#ffffff"]
FG, BG = "#dcdfe4", "#1e1e1e"
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
out, state = [], {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False}
def style():
    fg, bg = state["fg"] or FG, state["bg"] or BG
    if state["rev"]:
        fg, bg = bg, fg
    css = f"color:{fg};background:{bg}"
    if state["bold"]:
        css += ";font-weight:bold"
    if state["dim"]:
        css += ";opacity:0.7"
    return css
def color(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        return "#%02x%02x%02x" % tuple((0, 95, 135, 175, 215, 255)[c] for c in (n // 36, n // 6 % 6, n % 6))
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)
pos = 0
for m in re.finditer(r"\x1b\[([0-9;]*)m", text):
    chunk = text[pos:m.start()]
    if chunk:
        out.append(f'<span style="{style()}">{html.escape(chunk)}</span>')
    pos = m.end()
    codes = [int(c) if c else 0 for c in m.group(1).split(";")]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state.update(fg=None, bg=None, bold=False, dim=False, rev=False)
        elif c == 1: state["bold"] = True
        elif c == 2: state["dim"] = True
        elif c == 22: state.update(bold=False, dim=False)
        elif c == 7: state["rev"] = True
        elif c == 27: state["rev"] = False
        elif 30 <= c <= 37: state["fg"] = PALETTE[c - 30]
        elif 90 <= c <= 97: state["fg"] = PALETTE[c - 90 + 8]
        elif c == 39: state["fg"] = None
        elif 40 <= c <= 47: state["bg"] = PALETTE[c - 40]
        elif 100 <= c <= 107: state["bg"] = PALETTE[c - 100 + 8]
        elif c == 49: state["bg"] = None
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            state["fg" if c == 38 else "bg"] = color(codes[i + 2])
            i += 2
        i += 1
out.append(f'<span style="{style()}">{html.escape(text[pos:])}</span>')
page = f"""<!doctype html><meta charset="utf-8"><title>dynmgrctl top</title>
<style>html,body{{margin:0;background:{BG}}}
pre{{margin:0;padding:16px;font:15px/1.3 'DejaVu Sans Mono','Noto Sans Mono CJK JP',monospace;color:{FG};background:{BG}}}</style>
<pre>{"".join(out)}</pre>"""
open(sys.argv[2], "w", encoding="utf-8").write(page)
PY

mkdir -p "$(dirname "$OUT")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --screenshot="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")" \
  --window-size=1280,800 "file://$TMP/top.html" 2>/dev/null
echo "wrote $OUT"
