#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/.

Run from anywhere: python3 fuzz/make_seeds.py [CLANG_FUZZ_BUILD_DIR]. The text
seeds are real messages of the protocol (see shared/protocol.hpp, frame.hpp,
worker/exec_manager.hpp); the registry and event ring seeds are segments a real
writer made, written by the fuzz targets themselves (DYNMGR_FUZZ_WRITE_SEED),
so they need the clang build directory (fuzz/fuzz.sh build DIR).
"""
import hashlib
import os
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# MessageKind values (shared/frame.hpp) and their index in fuzz_protocol.cpp's kKinds.
KINDS = [1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 23, 24, 25, 26, 40, 41, 42, 60, 70, 10, 27, 11]
K = {"ping": 1, "put": 2, "del": 3, "get": 4, "restart": 5, "stop": 6, "reexec": 7,
     "restart_worker": 8, "ready": 20, "update": 21, "replace_id": 22, "halt": 23,
     "commit_reply": 24, "queue_dead": 25, "failing": 26, "call": 40, "cast": 41,
     "terminate": 42, "reply": 60, "wake": 70, "activate": 10, "idle": 27, "put_many": 11}

SPEC = ('{"payload":{"n":1},"timeout":1000,"lull":1.1,"instant_perform":false,'
        '"restart":"permanent","max_restarts":5,"within":30000,'
        '"options":{"exec":["python3","counter.py"],"env":{"K":"V"},"cwd":"/tmp"}}')
RECORD = ('{"id":"w1","slot":0,"status":"running","pid":123,"restarts":1,'
          '"payload":"{\\"n\\":1}","value":"2","timeout_ms":1000,"lull":1.1,'
          '"last_exit":{"kind":"signaled","signal":9,"reason":"killed by SIGKILL"}}')
MESSAGES = [
    ("ping", 1, '{"reply_to":"dynmgr.1000.demo.reply.42-1000.1","deadline":123456}'),
    ("put", 2, '{"reply_to":"r","id":"w1","spec":' + SPEC + ',"only_new":true,"deadline":9}'),
    ("put", 3, '{"reply_to":"r","id":"caf\\u00e9","spec":{"payload":[1e308,-0.5,"\\ud83d\\ude00"]},"only_new":false}'),
    ("del", 4, '{"reply_to":"r","id":"w1"}'),
    ("get", 5, '{"reply_to":"r","id":"w1"}'),
    ("restart", 6, '{"reply_to":"r"}'),
    ("restart_worker", 7, '{"reply_to":"r","id":"w1"}'),
    ("stop", 8, '{"reply_to":"r"}'),
    ("ready", 0, '{"slot":3,"incarnation":7,"pid":4242}'),
    ("update", 0, '{"slot":3,"incarnation":7,"pid":4242,"value":{"sum":5},"payload":{"n":2},"timeout":500}'),
    ("replace_id", 0, '{"slot":3,"incarnation":7,"pid":4242,"id":"w2","payload":{"n":0}}'),
    ("halt", 0, '{"slot":3,"incarnation":7,"pid":4242}'),
    ("commit_reply", 0, '{"slot":3,"incarnation":7,"pid":4242,"payload":[1],"reply_to":"r","request_id":99,"reply":"ok"}'),
    ("failing", 0, '{"slot":3,"incarnation":7,"pid":4242,"reason":"perform threw"}'),
    ("queue_dead", 0, '{"queue":"mailbox","slot":3,"generation":2}'),
    ("call", 10, '{"reply_to":"r","message":["add",5]}'),
    ("cast", 0, '{"message":{"op":"inc","by":1}}'),
    ("terminate", 0, '{"reason":"shutdown"}'),
    ("reply", 11, '{"ok":true,"result":' + RECORD + '}'),
    ("reply", 12, '{"ok":true,"result":[1,2,{"a":null}]}'),
    ("reply", 13, '{"ok":false,"error":{"code":"not_found","message":"no such worker \'x\'"}}'),
    ("wake", 0, ''),
    ("put", 14, '{"reply_to":"r","id":"p1","spec":{"payload":1,"passivate_after":5000},"only_new":false,"passive":true}'),
    ("activate", 15, '{"reply_to":"r","id":"p1","deadline":77}'),
    ("idle", 0, '{"slot":3,"incarnation":7,"pid":4242,"next_perform":250}'),
    ("terminate", 0, '{"reason":"passivate"}'),
    ("put_many", 18, '{"reply_to":"r","items":[{"id":"w1","spec":' + SPEC + '},{"id":"w2","spec":{"timeout":0}},'
                     '{"id":"w1","spec":{}},{"spec":{"payload":1}},{"id":"","spec":7},42],'
                     '"only_new":true,"passive":false,"deadline":77}'),
    ("put_many", 19, '{"reply_to":"r","items":[],"passive":true}'),
    ("put_many", 20, '{"reply_to":"r","items":{"id":"w1"}}'),
    ("reply", 21, '{"ok":true,"result":{"items":[{"ok":true,"result":' + RECORD + '},'
                  '{"ok":true,"result":{"id":"w2","slot":4,"status":"starting","pid":99}},'
                  '{"ok":false,"error":{"code":"exists","message":"worker \'w3\' already exists"}},'
                  '{"ok":false},7]}}'),
]


def frame(kind, request_id, body):
    body = body.encode()
    head = struct.pack("<IHHQI", 0x444D4752, 1, kind, request_id, len(body))
    crc = zlib.crc32(head + body) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + body


def write(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name, rid, body in MESSAGES:
        write("frame", frame(K[name], rid, body))
        write("protocol", bytes([KINDS.index(K[name])]) + struct.pack("<Q", rid) + body.encode())
        if body:
            write("json", body)
    write("frame", frame(K["put"], 2, MESSAGES[1][2])[:40])  # torn: cut mid-body
    for text in ['null', 'true', '-0', '1e999', '123456789012345678901234567890',
                 '"\\u0000\\ud800"', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
                 '{"a":{"b":[1.5e-300,2,"x"]}} ', '{"timeout":1e300}']:
        write("json", text)

    # exec_lines: byte 0 = request (0 perform, 1 call, 2 cast), byte 1 = read chunk size.
    for op, lines in [
        (0, '{"ok":{"n":1}}\n'),
        (0, '{"replace":{"n":2}}\r\n'),
        (0, '\n\n{"replace":{"n":0},"id":"next"}\n'),
        (0, '{"timeout":250,"result":"slow"}\n{"halt":true}\n'),
        (0, '{"timeout":-1}\n{"timeout":1e300}\n{"timeout":2147483648}\n'),
        (1, '{"reply":5,"replace":{"sum":5}}\n{"reply":null}\n'),
        (1, '{"unknown":1}\n[1,2]\nnot json\n{"ok":1'),
        (2, '{"ok":null,"extra":"ignored"}\n'),
    ]:
        write("exec_lines", bytes([op, 7]) + lines.encode())
        write("exec_lines", bytes([op, 63]) + lines.encode())

    # Children files: the README's, dynmgrd_flags_test's, and its invalid ones.
    for text in [
        '{"poller-1": {"exec": ["python3", "/srv/poll.py"], "payload": {"device": "10.0.0.1"},\n'
        '              "timeout": 5000, "env": {"MODE": "fast"}, "cwd": "/srv"}}\n',
        '{\n  "py":    {"exec": ["python3", "examples/exec/counter.py"], "payload": {}, "timeout": 100, "lull": 30},\n'
        '  "sh":    {"exec": ["sh", "counter.sh"], "payload": {"n": 10, "sum": 0}, "timeout": 50},\n'
        '  "probe": {"exec": ["exec_probe_command"], "env": {"FLEET": "yes"}, "cwd": "/tmp",\n'
        '            "timeout": 0, "restart": "transient", "max_restarts": 2, "within": 1000}\n}\n',
        '{"a": {"exec": ["sh", "x"], "env": {"K": "v"}, "cwd": "/tmp", "response_timeout": 9,\n'
        '       "payload": {"n": 1}, "timeout": 0, "restart": "temporary"}, "b": {"payload": 2}}',
        '{}', '{nope', '[1,2]', '{"": {"exec": ["true"]}}', '{"a": 5}',
        '{"a": {"exec": ["true"], "bogus": 1}}', '{"a": {"exec": ["true"], "timeout": "x"}}',
        '{"a": {"payload": 1}}', '{"a": {"exec": "true"}}', '{"a": {"exec": []}}',
        '{"a": {"exec": ["sh"], "response_timeout": 0}}',
        '{"a": {"exec": ["sh"], "lull": 0.5, "instant_perform": true, "max_restarts": 0, "within": 0}}',
    ]:
        write("children", text)

    build = sys.argv[1] if len(sys.argv) > 1 else None
    if build:
        for t in ["registry_reader", "event_reader"]:
            d = os.path.join(CORPUS, t)
            os.makedirs(d, exist_ok=True)
            out = os.path.join(d, "fresh-segment")
            env = dict(os.environ, DYNMGR_FUZZ_WRITE_SEED=out)
            subprocess.run([os.path.join(build, "bin", "fuzz_" + t), "-runs=0"], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
