#!/usr/bin/env python3
"""A dynmgr exec worker in Python: counts performs, answers calls, adds casts.

Requests arrive one JSON object per line on stdin; answer each with one line.
"""
import json
import sys

# Optional: tells dynmgr this command is ready for requests (put waits for it,
# up to ready_timeout; see README "Start-up handshake").
print(json.dumps({"ready": True}), flush=True)

for line in sys.stdin:
    req = json.loads(line)
    op, payload = req["op"], req.get("payload") or {}
    if op == "perform":
        payload["n"] = payload.get("n", 0) + 1
        resp = {"replace": payload}                    # payload := new payload
    elif op == "call":
        msg = req["message"]
        if msg == "get":
            resp = {"reply": payload}                  # reply, payload unchanged
        elif isinstance(msg, list) and msg[:1] == ["add"]:
            payload["sum"] = payload.get("sum", 0) + msg[1]
            resp = {"reply": payload["sum"], "replace": payload}
        else:
            resp = {"reply": None}
    elif op == "cast":
        msg = req["message"]
        if isinstance(msg, list) and msg[:1] == ["add"]:
            payload["sum"] = payload.get("sum", 0) + msg[1]
            resp = {"replace": payload}
        else:
            resp = {"ok": None}
    elif op == "terminate":
        print(json.dumps({"ok": None}), flush=True)
        break
    else:
        resp = {"ok": None}
    print(json.dumps(resp), flush=True)
