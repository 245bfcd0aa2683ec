"""Run mpi4py 4.1.2's own test suite (the `test/` folder of its sdist, unedited) against our
binding and against mpi4py itself, on the same MPI, and count.

    python tests/mpi4py_suite/run.py --impl mpikernel|mpi4py|both --ranks 1|2 [--json OUT]
        [--floor tests/mpi4py_suite/floor.json] [--cache DIR] [-i test_module ...]

- The sdist comes from PyPI (`pip download --no-deps --no-binary :all:`), checked against its
  sha256 and kept in a scratch cache (default ~/.cache/mpikernel/mpi4py-suite, or
  $MPIKERNEL_SUITE_CACHE), never in the checkout.
- `--impl mpikernel` puts shim/ first on PYTHONPATH: a package `mpi4py` whose MPI is
  mpikernel.MPI (and nothing of mpi4py's pure-Python extras: see shim/mpi4py/__init__.py).
- Each rank runs driver.py: mpi4py's test/main.py runner (as mpi4py's CI runs it, under
  `mpiexec -n N`) with a result class that streams outcomes to a file. The launch is our build's
  mpiexec (mpikernel.cluster.launcher), in its own process group. When no rank reports progress
  for --stall seconds the group is killed, the test in flight is counted as an error ("hang"),
  and the suite starts again without the tests already done (main.py's --xfile); a crash is
  handled the same way. --timeout bounds the whole run.
- A test counts as passed when it passed on every rank; error beats failed beats skipped.
- Modules of mpi4py's Python package beside `MPI` (OUTSIDE) are counted apart as well as in
  the totals.
- --floor FILE: exit 1 if mpikernel passes fewer tests than FILE records for this rank count.
"""

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = HERE / "shim"
DRIVER = HERE / "driver.py"
VERSION = "4.1.2"
SDIST = f"mpi4py-{VERSION}.tar.gz"
SHA256 = "56860286dc45f20e8821e93cb06669e30462348bf866f685553fa4b712d58d02"
OUTSIDE = ("test_package", "test_toplevel", "test_util_dtlib", "test_util_pkl5", "test_util_pool",
           "test_util_sync")
OUTCOMES = ("passed", "failed", "error", "skipped")
MARK = "MPIKERNEL_SUITE_RUN"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the sdist
def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def testdir(cache):
    """Path of mpi4py's test/ folder, downloading and unpacking the sdist into `cache` if needed."""
    cache = Path(cache)
    tests = cache / f"mpi4py-{VERSION}" / "test"
    if (tests / "main.py").is_file():
        return tests
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / SDIST
    if not archive.is_file() or sha256(archive) != SHA256:
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                f"mpi4py=={VERSION}", "-d", str(cache), "-q"]
        # without build isolation pip's metadata step takes a second instead of minutes
        for extra in (["--no-build-isolation"], []):
            log(f"downloading {SDIST}: {' '.join(base[1:] + extra)}")
            try:
                subprocess.run(base + extra, check=True, timeout=600)
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                log(f"  failed: {exc}")
    if not archive.is_file():
        sys.exit(f"could not download {SDIST}")
    if sha256(archive) != SHA256:
        sys.exit(f"{archive}: sha256 {sha256(archive)} is not {SHA256}")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"mpi4py-{VERSION}/test/")]
        tar.extractall(cache, members=members, filter="data")
    return tests


# ---------------------------------------------------------------- running
def kill_group(proc, marker):
    """SIGTERM then SIGKILL the launch's process group, then any process that still carries the
    run's marker in its environment (a rank that left the group): by pid, never by name."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in marked_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def marked_pids(marker):
    found = []
    needle = f"{MARK}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def read_events(outdir, ranks):
    per_rank = []
    for r in range(ranks):
        path = Path(outdir) / f"rank{r}.jsonl"
        events = []
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by a kill
        per_rank.append(events)
    return per_rank


def launch_env(impl, marker, shim=SHIM):
    from mpikernel.cluster.launcher import launch_environ

    env = launch_environ()
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) not in (SHIM, shim)]
    if impl == "mpikernel":
        paths.insert(0, str(shim))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONFAULTHANDLER"] = "1"
    env[MARK] = marker
    return env


def run_suite(impl, ranks, tests, workdir, stall, deadline, shim=SHIM, include=()):
    """Run the suite until every test has an outcome; returns the result dict.

    include: main.py's -i patterns (modules or tests to run; empty = all of them)."""
    from mpikernel.cluster.launcher import mpiexec_command

    done, errors, launches = {}, {}, []
    t0 = time.monotonic()
    complete = False
    for attempt in range(40):
        outdir = Path(workdir) / f"{impl}-n{ranks}-{attempt}"
        outdir.mkdir(parents=True)
        xfile = outdir / "exclude.txt"
        xfile.write_text("".join(f"*{tid}\n" for tid in done))
        marker = uuid.uuid4().hex
        cmd = mpiexec_command(ranks) + [sys.executable, str(DRIVER), str(tests), str(outdir),
                                        "-q", "--no-builddir", "--xfile", str(xfile)]
        cmd += [arg for pattern in include for arg in ("-i", pattern)]
        proc = subprocess.Popen(cmd, cwd=outdir, env=launch_env(impl, marker, shim), start_new_session=True,
                                stdout=open(outdir / "mpiexec.out", "wb"), stderr=subprocess.STDOUT)
        last, progress, why = -1, time.monotonic(), None
        while proc.poll() is None:
            time.sleep(0.5)
            size = sum(p.stat().st_size for p in outdir.glob("rank*.jsonl"))
            if size != last:
                last, progress = size, time.monotonic()
            if time.monotonic() - progress > stall:
                why = f"hang: no progress for {stall:.0f} s, killed"
            elif time.monotonic() > deadline:
                why = "hang: the run's --timeout was reached, killed"
            if why:
                kill_group(proc, marker)
                break
        rc = proc.wait()
        per_rank = read_events(outdir, ranks)
        finished = all(any(e.get("event") == "done" for e in ev) for ev in per_rank)
        if why is None and not finished:
            why = f"crash: mpiexec exited with {rc} before every rank finished"
        launches.append({"rc": rc, "why": why, "seconds": round(time.monotonic() - t0, 1)})
        started = [dict() for _ in per_rank]
        ended = [dict() for _ in per_rank]
        for r, events in enumerate(per_rank):
            for e in events:
                if e.get("event") == "start":
                    started[r][e["id"]] = True
                elif e.get("event") == "end":
                    ended[r][e["id"]] = (e["outcome"], e.get("detail", ""))
                elif e.get("event") == "error":
                    errors.setdefault(e["id"], e.get("detail", ""))
        order = []
        for r in range(ranks):
            order += [t for t in started[r] if t not in order]
        new = 0
        for tid in order:
            if tid in done:
                continue
            if all(tid in ended[r] for r in range(ranks)):
                results = [ended[r][tid] for r in range(ranks)]
                worst = max(results, key=lambda x: ("passed", "skipped", "failed", "error").index(x[0]))
                done[tid] = {"outcome": worst[0], "detail": worst[1]}
                new += 1
        if why is None:
            complete = True
            break
        # the test(s) in flight: started on every rank, not ended on all (else any unfinished one)
        unfinished = [t for t in order if t not in done]
        hung = [t for t in unfinished if all(t in started[r] for r in range(ranks))] or unfinished
        for tid in hung:
            done[tid] = {"outcome": "error", "detail": why}
        log(f"  {impl} -n {ranks}: {why}; in flight: {', '.join(hung) or 'none'}")
        if (not hung and not new) or time.monotonic() > deadline:
            break
    return {"tests": done, "errors": errors, "launches": launches, "complete": complete,
            "seconds": round(time.monotonic() - t0, 1)}


# ---------------------------------------------------------------- counting
def module_of(tid):
    if tid.startswith("unittest.loader._FailedTest."):
        return tid.rsplit(".", 1)[1]
    m = re.search(r"\((test_\w+)", tid)
    return m.group(1) if m else tid.split(".", 1)[0]


def counts(result):
    """{module: Counter(outcome)}; errors outside a test (import, setUpClass) count as errors."""
    per = defaultdict(Counter)
    for tid, t in result["tests"].items():
        per[module_of(tid)][t["outcome"]] += 1
    for eid in result["errors"]:
        per[module_of(eid)]["error"] += 1
    return per


def totals(per, which):
    total = Counter()
    for mod, c in per.items():
        if which == "all" or (which == "outside") == (mod in OUTSIDE):
            total.update(c)
    return total


NAME_PATTERNS = (
    (re.compile(r"module '(?:mpikernel\.)?MPI' has no attribute '(\w+)'"), "MPI.{}"),
    (re.compile(r"'(?:mpikernel\.)?MPI\.(\w+)' object has no attribute '(\w+)'"), "{}.{}"),
    (re.compile(r"type object '(?:mpikernel\.)?MPI\.(\w+)' has no attribute '(\w+)'"), "{}.{}"),
    (re.compile(r"cannot import name '(\w+)' from 'mpi4py\.MPI'"), "MPI.{}"),
    (re.compile(r"No module named '(mpi4py\.[\w.]+)'"), "{}"),
)


def missing_name(detail):
    for pattern, fmt in NAME_PATTERNS:
        m = pattern.search(detail or "")
        if m:
            return fmt.format(*m.groups())
    return None


def missing_names(ours, ref):
    """Missing names weighed by the tests that pass on mpi4py and not on ours because of them (a
    module that does not import loses all its tests to the name that stopped the import)."""
    import_error = {module_of(t): d["detail"] for t, d in ours["tests"].items()
                    if t.startswith("unittest.loader._FailedTest.")}
    import_error.update({module_of(e): d for e, d in ours["errors"].items()})
    lost = Counter()
    for tid, t in ref["tests"].items():
        if t["outcome"] != "passed":
            continue
        mine = ours["tests"].get(tid)
        if mine is None:
            name = missing_name(import_error.get(module_of(tid), ""))
        elif mine["outcome"] in ("failed", "error"):
            name = missing_name(mine["detail"])
        else:
            continue
        lost[name or "(other)"] += 1
    return lost


def report(results, ranks, top):
    impls = list(results)
    per = {impl: counts(results[impl]) for impl in impls}
    mods = sorted(set().union(*[set(p) for p in per.values()]))
    head = f"{'module':<24}" + "".join(f" | {impl + ' pass fail err skip':>31}" for impl in impls)
    print(f"\nmpi4py {VERSION} test suite, mpiexec -n {ranks}")
    print(head)
    print("-" * len(head))

    def row(label, cs):
        return f"{label:<24}" + "".join(
            f" | {c['passed']:>10} {c['failed']:>6} {c['error']:>6} {c['skipped']:>6}" for c in cs)

    for mod in mods:
        print(row(mod + (" *" if mod in OUTSIDE else ""), [per[i].get(mod, Counter()) for i in impls]))
    print("-" * len(head))
    for which, label in (("mpi", "MPI module"), ("outside", "outside MPI (*)"), ("all", "total")):
        print(row(label, [totals(per[i], which) for i in impls]))
    for impl in impls:
        r = results[impl]
        bad = [l for l in r["launches"] if l["why"]]
        print(f"{impl}: {r['seconds']} s, {len(r['launches'])} launch(es)"
              + ("" if r["complete"] else ", INCOMPLETE (stopped before the end)")
              + "".join(f"\n  {l['why']}" for l in bad))
    if "mpikernel" in results and "mpi4py" in results:
        for which, label in (("mpi", "MPI module"), ("all", "total")):
            a = totals(per["mpikernel"], which)["passed"]
            b = totals(per["mpi4py"], which)["passed"]
            print(f"passing, ours/mpi4py ({label}): {a}/{b} = {100 * a / b if b else 0:.1f}%")
        lost = missing_names(results["mpikernel"], results["mpi4py"])
        if top:
            print(f"tests that pass on mpi4py and not on ours, by the missing name that fails them (top {top}):")
            for name, n in lost.most_common(top):
                print(f"  {n:>5}  {name}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", choices=("mpikernel", "mpi4py", "both"), default="both")
    ap.add_argument("--ranks", type=int, choices=(1, 2, 3, 4), default=2)
    ap.add_argument("--json", help="write every test's outcome here")
    ap.add_argument("--floor", help="floor.json: fail if mpikernel passes fewer tests")
    ap.add_argument("--cache", default=os.environ.get("MPIKERNEL_SUITE_CACHE")
                    or str(Path.home() / ".cache" / "mpikernel" / "mpi4py-suite"))
    ap.add_argument("--stall", type=float, default=30.0, help="seconds without progress = a hang")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for each implementation")
    ap.add_argument("--shim", type=Path, default=SHIM, help="the shim directory (experiments only)")
    ap.add_argument("--top", type=int, default=10, help="missing names to list")
    ap.add_argument("--include", "-i", action="append", default=[], metavar="PATTERN",
                    help="run only these test modules or tests (main.py's -i; repeatable), "
                         "e.g. -i test_grequest -i test_p2p_obj; --floor is not checked then")
    args = ap.parse_args(argv)

    tests = testdir(args.cache)
    impls = ["mpi4py", "mpikernel"] if args.impl == "both" else [args.impl]
    results = {}
    with tempfile.TemporaryDirectory(prefix="mpi4py-suite.") as work:
        for impl in impls:
            log(f"running mpi4py {VERSION}'s test suite on {impl}, mpiexec -n {args.ranks}")
            results[impl] = run_suite(impl, args.ranks, tests, work, args.stall,
                                      time.monotonic() + args.timeout, args.shim.resolve(),
                                      args.include)
    report(results, args.ranks, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps({"mpi4py_version": VERSION, "ranks": args.ranks,
                                               "results": results}, indent=1))
    status = 0
    for impl, r in results.items():
        if impl == "mpi4py" and not r["complete"]:
            print("FAILED: mpi4py itself did not run its suite to the end on this MPI")
            status = 1
    if args.floor and "mpikernel" in results and not args.include:
        floor = json.loads(Path(args.floor).read_text())[f"ranks_{args.ranks}"]["passed"]
        passed = totals(counts(results["mpikernel"]), "all")["passed"]
        if passed < floor:
            print(f"FAILED: mpikernel passes {passed} tests, fewer than the floor {floor} ({args.floor})")
            status = 1
        else:
            print(f"mpikernel passes {passed} tests; floor {floor} ({args.floor}): ok")
    return status


if __name__ == "__main__":
    sys.exit(main())
