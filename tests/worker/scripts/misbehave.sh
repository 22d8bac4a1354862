#!/bin/sh
# Exec-worker commands that break the JSON-lines protocol, one per MODE, for
# the failure tests (tests/worker/dynmgrd_failure_test.cpp):
#   garbage       answer every request with a line that is not JSON
#   non-object    answer every request with a JSON array
#   unknown       answer every request with an object of no known shape
#   bad-timeout   answer performs with {"timeout":-5}
#   unsolicited   write a line before any request, then answer normally
#   double        answer every request twice
#   silent        read requests and never answer
#   silent-calls  answer performs, never answer calls or casts
#   exit N        exit with code N at once
#   exit-after N  read one request, then exit with code N without answering
#   kill-self SIG kill itself with SIG at once
mode=$1
case "$mode" in
  exit) exit "$2" ;;
  exit-after) IFS= read -r line; exit "$2" ;;
  kill-self) kill -s "$2" $$ ;;
  unsolicited) printf '{"ok":"nobody asked"}\n' ;;
esac
while IFS= read -r line; do
  case "$mode" in
    garbage)      printf 'this is not JSON\n' ;;
    non-object)   printf '[1,2,3]\n' ;;
    unknown)      printf '{"hello":"world"}\n' ;;
    bad-timeout)  printf '{"timeout":-5}\n' ;;
    double)       printf '{"ok":1}\n{"ok":2}\n' ;;
    silent)       : ;;
    silent-calls)
      case "$line" in
        *'"op":"perform"'*) printf '{"ok":"alive"}\n' ;;
        *'"op":"terminate"'*) printf '{"ok":null}\n'; exit 0 ;;
      esac ;;
    *)            printf '{"ok":null}\n' ;;
  esac
done
