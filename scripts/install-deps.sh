#!/bin/sh
# Installs what dynmgr needs to build and test on Debian 12, and nothing more.
# Quick when everything is present: it only asks dpkg.
set -eu
PKGS="cmake make g++ libboost1.81-dev libboost-json1.81-dev libcli11-dev libgtest-dev libbenchmark-dev python3 libsqlite3-dev sqlite3 prometheus curl groff-base libsystemd-dev chromium libpng-dev libncurses-dev tmux clang libclang-rt-14-dev etcd-server etcd-client"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
