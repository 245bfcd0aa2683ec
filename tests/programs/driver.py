"""Pytest side of the binding tests: run a program of tests/programs on n ranks with one MPI
implementation, read back every rank's records, and compare implementations.

Runs go through tests/support/mpirun.py (hard timeout, the whole process group killed). A run is cached
per (program, n, implementation, extra env) so the reference run of mpi4py is made once and
shared by the tests that compare against it.
"""

import atexit
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import mpirun as _mpirun

PROGRAMS = Path(__file__).resolve().parent
_TMP = Path(tempfile.mkdtemp(prefix="bindtest-"))
atexit.register(shutil.rmtree, _TMP, True)


@dataclass
class Run:
    program: str
    n: int
    impl: str
    returncode: int
    stdout: str
    stderr: str
    records: dict = field(default_factory=dict)  # rank -> name -> record
    timed_out: str = ""

    def get(self, rank, name):
        return self.records.get(rank, {}).get(name)

    def header(self):
        return f"{self.program} on {self.n} ranks with {self.impl}"

    def tail(self, chars=3000):
        return (f"--- returncode {self.returncode}{' (TIMED OUT)' if self.timed_out else ''}\n"
                f"--- stdout\n{self.stdout[-chars:]}\n--- stderr\n{self.stderr[-chars:]}")


def run(program, n, impl, timeout=60, **env):
    """Run tests/programs/<program> on n ranks with impl ('mpi4py' or 'mpikernel'); -> Run."""
    return _cached_run(program, n, impl, timeout, tuple(sorted(env.items())))


@lru_cache(maxsize=None)
def _cached_run(program, n, impl, timeout, env_items):
    out = Path(tempfile.mkdtemp(prefix=f"{impl}-{n}-", dir=_TMP))
    env = {
        "BINDTEST_IMPL": impl,
        "BINDTEST_OUT": str(out),
        "BINDTEST_N": str(n),
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
    }
    env.update(dict(env_items))
    code = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(PROGRAMS)!r})\n"
        f"runpy.run_path({str(PROGRAMS / program)!r}, run_name='__main__')\n"
    )
    timed_out = ""
    try:
        res = _mpirun.run(code, n=n, timeout=timeout, env=env, tmp_path=out, check=False)
        rc, stdout, stderr = res.returncode, res.stdout, res.stderr
    except AssertionError as exc:  # the runner's timeout: keep what the ranks recorded so far
        rc, stdout, stderr, timed_out = -9, "", str(exc), str(exc)
    records = {}
    for path in sorted(out.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            records.setdefault(rec["rank"], {})[rec["name"]] = rec
    return Run(program, n, impl, rc, stdout, stderr, records, timed_out)


def problems(run):
    """Everything wrong with one run on its own: exit status, missing ranks, failed checks."""
    out = []
    if run.returncode != 0:
        out.append(f"exit status {run.returncode}\n{run.tail()}")
    for rank in range(run.n):
        recs = run.records.get(rank)
        if not recs:
            out.append(f"rank {rank}: recorded nothing")
            continue
        if "__done__" not in recs:
            last = list(recs)[-1]
            out.append(f"rank {rank}: did not reach the end (last check: {last!r})")
        for name, rec in recs.items():
            if rec["kind"] == "value" and rec["ok"] is False:
                want = f" want {rec['want']}" if "want" in rec else ""
                tb = f"\n{rec['traceback']}" if "traceback" in rec else ""
                out.append(f"rank {rank}: {name}: got {rec['value']}{want}{tb}")
    return out


def differences(ref, got, same_exception=True, skip=(), kinds=("value", "raises")):
    """Where `got` does not behave like `ref` (values equal; the same checks raise, with the
    same exception class). `info` records are not compared."""
    out = []
    for rank in range(ref.n):
        mine = got.records.get(rank, {})
        for name, r in ref.records.get(rank, {}).items():
            if r["kind"] not in kinds or name in skip:
                continue
            g = mine.get(name)
            if g is None:
                out.append(f"rank {rank}: {name}: missing (reference: {_show(r)})")
            elif r["kind"] == "value" and g.get("value") != r["value"]:
                out.append(f"rank {rank}: {name}: {g.get('value')}  !=  reference {r['value']}")
            elif r["kind"] == "raises":
                if r["raised"] != g.get("raised"):
                    out.append(f"rank {rank}: {name}: {_show(g)}  but reference {_show(r)}")
                elif r["raised"] and same_exception and r["exc"] != g["exc"]:
                    out.append(f"rank {rank}: {name}: raised {g['exc']} ({g['msg'][:200]!r}) "
                               f"but reference raised {r['exc']} ({r['msg'][:120]!r})")
                elif r["raised"] and r["error_class"] != g["error_class"]:
                    out.append(f"rank {rank}: {name}: error class {g['error_class']} but "
                               f"reference {r['error_class']}")
    return out


_VERDICT = re.compile(r": (?=got |raised |returned |did not |not run|message |MPI error class |"
                      r"missing |<raised |a communicator |unclear )|  !=  ")


def _key(item):
    """('rank 2', 'check name') of a failure line; check names may contain ': ' themselves."""
    if not item.startswith("rank ") or ": " not in item:
        return None, item
    rank, text = item.split(": ", 1)
    return rank, _VERDICT.split(text, 1)[0]


def failures(ref, got, **kw):
    """problems(got) plus the differences from ref that are not already one of those."""
    own = problems(got)
    seen = {_key(f) for f in own}
    return own + [d for d in differences(ref, got, **kw) if _key(d) not in seen]


def by_check(items):
    """One line per failing check: the first rank's text, and which ranks failed it."""
    first, ranks = {}, {}
    for item in items:
        rank, name = _key(item)
        first.setdefault(name, item)
        if rank is not None:
            ranks.setdefault(name, []).append(rank[5:])
    return [f"[ranks {','.join(ranks[k])}] {v}" if k in ranks else v for k, v in first.items()]


def _show(rec):
    if rec.get("kind") == "raises":
        if rec.get("raised"):
            return f"raised {rec['exc']}: {rec['msg'][:200]!r}"
        return f"returned {rec.get('value')} without raising"
    return str(rec.get("value"))


def collapse(items):
    """'rank 0: X' ... 'rank 3: X' -> 'ranks 0,1,2,3: X' (most failures repeat on every rank)."""
    groups = {}
    for item in items:
        if item.startswith("rank ") and ": " in item:
            rank, text = item[5:].split(": ", 1)
            groups.setdefault(text, []).append(rank)
        else:
            groups.setdefault(item, [])
    out = []
    for text, ranks in groups.items():
        if not ranks:
            out.append(text)
        else:
            out.append(f"rank{'s' if len(ranks) > 1 else ''} {','.join(ranks)}: {text}")
    return out


def report(title, items, limit=60):
    items = collapse(items)
    shown = items[:limit]
    more = f"\n... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n" + "\n".join(shown) + more


def assert_clean(run):
    found = problems(run)
    assert not found, report(run.header() + ": failed checks", found)


def assert_same(ref, got, **kw):
    found = differences(ref, got, **kw)
    assert not found, report(f"{got.header()} differs from {ref.impl}", found)


def differential(program, n, timeout=60, known=(), **env):
    """The test of one program: mpi4py passes its own checks (so the checks are right), mpikernel
    passes them too and returns exactly what mpi4py returns. `known` names checks confirmed
    broken in the binding: they must still fail (strict), the rest must pass."""
    ref = run(program, n, "mpi4py", timeout, **env)
    assert_clean(ref)
    got = run(program, n, "mpikernel", timeout, **env)
    found = failures(ref, got)
    if known:
        unexpected = [f for f in found if not any(f": {k}:" in f for k in known)]
        fixed = [k for k in known if not any(f": {k}:" in f for f in found)]
        assert not unexpected, report(got.header() + ": failures", by_check(unexpected))
        assert not fixed, f"known-broken checks now pass (remove them from `known`): {fixed}"
    else:
        assert not found, report(got.header() + ": failures", by_check(found))
    return ref, got
