#!/bin/sh
# Regenerates cmake/startup-order.ld: the code a one-shot `dynmgrctl` and a
# starting worker run, as linker-script input rules, so the static executables
# link it together at the front of .text (README "Start-up cost"). A stale or
# missing rule only costs a page: the script is an optimisation, never a
# condition of a correct build.
#
#   sh scripts/link-order.sh BUILD_DIR
#
# BUILD_DIR: a RelWithDebInfo build with DYNMGR_LINK_ORDER on (the default),
# which leaves each executable's link map in BUILD_DIR/maps. Needs valgrind.
# Rebuild afterwards (the executables relink with the new rules).
#
# How: callgrind lists every function a process ran; the link map says which
# input section (which object, which archive member) holds it. dynmgrctl runs
# under callgrind directly. A worker cannot (the supervisor watches it by
# pidfd, which this valgrind does not know), so the supervisor runs from a copy
# of probe that is then replaced by a wrapper: the workers it starts with
# --worker-start exec go through valgrind while the supervisor stays native.
# The template's forked child runs the same worker code; its own functions
# (worker/template.cpp, shared/template_wire.cpp: what a spare runs as it
# becomes a worker) are added whole.
set -eu
build=${1:?usage: sh scripts/link-order.sh BUILD_DIR}
build=$(cd "$build" && pwd)
bin="$build/bin"
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/cmake/startup-order.ld"
command -v valgrind >/dev/null || { echo "link-order: needs valgrind" >&2; exit 1; }
for m in probe dynmgrctl; do
  [ -f "$build/maps/$m.map" ] || { echo "link-order: no $build/maps/$m.map (DYNMGR_LINK_ORDER off?)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/dynmgr-link-order.XXXXXX)
name="linkorder$$"
cleanup() {
  "$bin/dynmgrctl" -n "$name" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

profile() {  # profile OUTPUT COMMAND...
  out_file=$1
  shift
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$out_file" "$@" \
    >/dev/null 2>>"$work/valgrind.log"
}

cp "$bin/probe" "$work/probe"
"$work/probe" -n "$name" --daemon --log-file "$work/probe.log" --no-state --worker-start exec
mv "$work/probe" "$work/probe.bin"
cat > "$work/probe" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --demangle=no --callgrind-out-file=$work/worker.%p.cg $work/probe.bin "\$@" 2>>$work/valgrind.log
EOF
chmod +x "$work/probe"

ctl="$bin/dynmgrctl"
"$ctl" -n "$name" --wait 60000 put w0 --timeout 0 >/dev/null
"$ctl" -n "$name" --wait 60000 put w1 --timeout 0 --payload '{"n": 1}' >/dev/null
profile "$work/ctl.1.cg" "$ctl" -n "$name" call w0 '"get"'
profile "$work/ctl.2.cg" "$ctl" -n "$name" cast w0 '["append", 1]'
profile "$work/ctl.3.cg" "$ctl" -n "$name" get w0
profile "$work/ctl.4.cg" "$ctl" -n "$name" state
profile "$work/ctl.5.cg" "$ctl" -n "$name" put w2 --timeout 0
# A worker writes its profile as it exits: del ends them cleanly.
for w in w0 w1 w2; do "$ctl" -n "$name" --wait 60000 del "$w" >/dev/null; done

python3 - "$out" "$build/maps/probe.map" "$bin/probe.bin" "$work" "$build/maps/dynmgrctl.map" "$ctl" <<'EOF'
import bisect, glob, re, subprocess, sys

out = sys.argv[1]
# (map, binary, profiles, root): the workers first, and of theirs first what
# dynmgr::run_worker calls (all a template's child runs, without the exec's
# own start: libc's, static constructors, flag parsing); then dynmgrctl.
RUN_WORKER = "_ZN6dynmgr10run_workerERNS_7ManagerERKNS_10WorkerArgsE"
jobs = [(sys.argv[2], sys.argv[4] + "/probe.bin", sorted(glob.glob(sys.argv[4] + "/worker.*.cg")),
         RUN_WORKER),
        (sys.argv[5], sys.argv[6], sorted(glob.glob(sys.argv[4] + "/ctl.*.cg")), None)]
# Section names shared by every function of an object: their rules name the file.
GENERIC = {".text", ".text.unlikely", ".text.hot", ".text.startup", ".text.exit"}


def input_sections(map_path):
    """The input sections of the output .text: (address, size, section, file)."""
    lines = open(map_path, errors="replace").read().splitlines()
    secs, in_text, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\.\S", line):
            in_text = line.split()[0] in (".text", ".text.dynmgr_startup")
        m = re.match(r"^ (\.text\S*)(?:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(.*))?$", line)
        if in_text and m:
            if m.group(2) is None:
                m2 = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(.*)$", lines[i + 1] if i + 1 < len(lines) else "")
                i += 1
                if not m2:
                    continue
                addr, size, f = int(m2.group(1), 16), int(m2.group(2), 16), m2.group(3)
            else:
                addr, size, f = int(m.group(2), 16), int(m.group(3), 16), m.group(4)
            if size > 0:
                secs.append((addr, size, m.group(1), f.strip()))
        i += 1
    return sorted(secs)


def functions_run(profiles, first_root=None):
    """Every function the profiles ran, in the order callgrind first names
    them; those reachable from first_root (by the calls it recorded) first."""
    seen, order, calls = set(), [], {}
    for p in profiles:
        names, current = {}, None
        for line in open(p):
            m = re.match(r"^(c?fn)=\((\d+)\)\s*(\S+)?", line)
            if not m:
                continue
            if m.group(3):
                names[m.group(2)] = re.sub(r"'\d+$", "", m.group(3))
            n = names.get(m.group(2))
            if n is None:
                continue
            if m.group(1) == "fn":
                current = n
            elif current is not None:
                calls.setdefault(current, set()).add(n)
            if n not in seen:
                seen.add(n)
                order.append(n)
    if first_root is None or first_root not in seen:
        return order
    reach, todo = {first_root}, [first_root]
    while todo:
        for c in calls.get(todo.pop(), ()):
            if c not in reach:
                reach.add(c)
                todo.append(c)
    return [n for n in order if n in reach] + [n for n in order if n not in reach]


rules, have = [], set()
for map_path, binary, profiles, root in jobs:
    if not profiles:
        sys.exit("link-order: no profile for " + binary + " (see valgrind.log)")
    secs = input_sections(map_path)
    starts = [s[0] for s in secs]
    syms = {}
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True)
    for line in nm.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTwWiI":
            syms.setdefault(p[2], int(p[0], 16))
    for fn in functions_run(profiles, root):
        a = syms.get(fn)
        k = bisect.bisect_right(starts, a) - 1 if a is not None else -1
        if k < 0 or not secs[k][0] <= a < secs[k][0] + secs[k][1]:
            continue
        _, _, sec, f = secs[k]
        if sec in GENERIC or not sec.startswith(".text."):
            m = re.match(r"^(.*)\((.*)\)$", f)  # archive(member)
            where = "*" + m.group(1).split("/")[-1] + ":" + m.group(2) if m else "*" + f.split("/")[-1]
            rule = where + "(" + sec + ")"
        else:
            rule = "*(" + sec + ")"
        if rule not in have:
            have.add(rule)
            rules.append(rule)
with open(out, "w") as o:
    o.write("/* Generated by scripts/link-order.sh: the code dynmgrctl and a starting worker\n"
            "   run, linked together at the front of .text (README \"Start-up cost\"). */\n")
    o.write("SECTIONS\n{\n  .text.dynmgr_startup :\n  {\n")
    # Its bounds, for a spare's warm-up (worker/template.cpp).
    o.write("    PROVIDE_HIDDEN(dynmgr_startup_begin = .);\n")
    o.write("    *libdynmgr_worker.a:template.cpp.o(.text .text.*)\n")
    o.write("    *libdynmgr_shared.a:template_wire.cpp.o(.text .text.*)\n")
    for r in rules:
        o.write("    " + r + "\n")
    o.write("    PROVIDE_HIDDEN(dynmgr_startup_end = .);\n")
    o.write("  }\n}\nINSERT BEFORE .text;\n")
print(f"{len(rules)} rules -> {out}")
EOF
