#!/bin/sh
# The counter of examples/exec/counter.py in POSIX sh, for the exec-worker tests.
# The payload is {"n":N,"sum":S}:
#   perform            -> n += 1                      {"replace":P}
#   call "get"         -> reply the payload           {"reply":P}
#   call ["add",K]     -> sum += K, reply the sum     {"reply":S,"replace":P}
#   cast ["add",K]     -> sum += K                    {"replace":P}
#   terminate          -> answer, then exit 0
# Every request line is appended to $JOURNAL when it is set (the tests read it).

field() {  # field NAME: the integer after "NAME": in the request line
  printf '%s' "$line" | sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9]*\).*/\1/p"
}

while IFS= read -r line; do
  if [ -n "$JOURNAL" ]; then printf '%s\n' "$line" >> "$JOURNAL"; fi
  n=$(field n); n=${n:-0}
  s=$(field sum); s=${s:-0}
  case "$line" in
    *'"op":"perform"'*)
      printf '{"replace":{"n":%d,"sum":%d}}\n' $((n + 1)) "$s" ;;
    *'"op":"call"'*'"message":"get"'*)
      printf '{"reply":{"n":%d,"sum":%d}}\n' "$n" "$s" ;;
    *'"op":"call"'*'"message":["add",'*)
      k=$(printf '%s' "$line" | sed -n 's/.*"message":\["add",\(-\{0,1\}[0-9][0-9]*\)\].*/\1/p')
      s=$((s + ${k:-0}))
      printf '{"reply":%d,"replace":{"n":%d,"sum":%d}}\n' "$s" "$n" "$s" ;;
    *'"op":"cast"'*'"message":["add",'*)
      k=$(printf '%s' "$line" | sed -n 's/.*"message":\["add",\(-\{0,1\}[0-9][0-9]*\)\].*/\1/p')
      printf '{"replace":{"n":%d,"sum":%d}}\n' "$n" $((s + ${k:-0})) ;;
    *'"op":"terminate"'*)
      printf '{"ok":null}\n'
      exit 0 ;;
    *)
      printf '{"ok":null}\n' ;;
  esac
done
