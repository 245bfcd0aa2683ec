"""Run a Python program under mpiexec from a test: hard timeout, kill by process group.

A wrong MPI test hangs; here a hang becomes a failure after `timeout` seconds and leaves no
process behind (the whole group mpiexec started is killed, never anything by name).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from mpikernel.cluster import launcher


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def lines(self):
        return [line for line in self.stdout.splitlines() if line.strip()]


def run(code, n=2, timeout=60, env=None, args=(), tmp_path=None, check=True, python=None):
    """Run `code` (a program text) on `n` ranks; return Result. Raises AssertionError on timeout."""
    code = textwrap.dedent(code)
    if tmp_path is None:
        import tempfile

        tmp_path = Path(tempfile.mkdtemp(prefix="mpikernel-test-"))
    script = Path(tmp_path) / "prog.py"
    script.write_text(code)
    for attempt in (1, 2):
        cmd = launcher.mpiexec_command(n) + [python or sys.executable, str(script), *args]
        full_env = launcher.launch_environ()
        full_env.update(env or {})
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=full_env, start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise AssertionError(
                f"MPI program on {n} ranks timed out after {timeout}s\n--- stdout\n{out}\n--- stderr\n{err}"
            ) from None
        finally:
            kill_group(proc)
        if attempt == 1 and proc.returncode != 0 and launcher.failed_to_start(err):
            continue  # Open MPI's prterun sometimes cannot open its PMIx listener: no rank ran
        break
    res = Result(proc.returncode, out, err)
    if check and res.returncode != 0:
        raise AssertionError(
            f"MPI program on {n} ranks exited {res.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
        )
    return res


def kill_group(proc):
    """SIGKILL the process group of a session leader we started; 'no such process' is fine."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# For programs that report results: each rank appends {"name", "value"} lines to its own file in
# the directory given as argv[1] (ranks' stdout lines can interleave). Needs json, os, sys, rank.
EMIT = """
_out = open(os.path.join(sys.argv[1], f"rank{rank}.jsonl"), "a")

def emit(name, value):
    _out.write(json.dumps({"rank": rank, "name": name, "value": value}) + "\\n")
    _out.flush()
"""


def run_emitted(code, n, tmp_path, **kw):
    """Run code (using EMIT) on n ranks; {name: {rank: value}} from the files the ranks wrote."""
    run(code, n=n, timeout=90, tmp_path=tmp_path, args=(str(tmp_path),), **kw)
    out = {}
    for path in sorted(Path(tmp_path).glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            d = json.loads(line)
            out.setdefault(d["name"], {})[d["rank"]] = d["value"]
    return out
