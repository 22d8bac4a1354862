"""Runs a Python exec worker with a journal of the requests it reads.

    python3 journal.py WORKER.py [ARGS...]

WORKER.py (e.g. examples/exec/counter.py) runs unchanged as __main__; every
line it reads from stdin is first appended to the file named by $JOURNAL, so a
test can see which requests (terminate included) reached the command.
"""
import os
import runpy
import sys


class JournaledStdin:
    def __init__(self, stream, path):
        self._stream = stream
        self._path = path

    def _note(self, line):
        if line:
            with open(self._path, "a") as journal:
                journal.write(line if line.endswith("\n") else line + "\n")
        return line

    def readline(self, *args):
        return self._note(self._stream.readline(*args))

    def __iter__(self):
        for line in self._stream:
            yield self._note(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


sys.stdin = JournaledStdin(sys.stdin, os.environ["JOURNAL"])
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
