#!/bin/sh
# A dynmgr exec worker in POSIX sh: every perform stores the time as its value,
# every call replies the line it got (as a JSON string), casts are accepted.
while IFS= read -r line; do
  case "$line" in
    *'"op":"perform"'*)   printf '{"ok":%s}\n' "$(date +%s)" ;;
    *'"op":"call"'*)      esc=$(printf '%s' "$line" | sed 's/\\/\\\\/g; s/"/\\"/g')
                          printf '{"reply":"%s"}\n' "$esc" ;;
    *'"op":"terminate"'*) printf '{"ok":null}\n'; exit 0 ;;
    *)                    printf '{"ok":null}\n' ;;
  esac
done
