"""Binding benchmarks: mpikernel.MPI against mpi4py and C on the same libmpi, in one run.

Every round launches the C anchor, mpi4py and mpikernel back to back (the order rotates between
rounds), so slow phases of the shared machine hit all three alike. A target compares medians:
ratio = ours / anchor, for times (lower is better) or rates (higher is better).
"""

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cbuild
from .launch import LaunchError, run_ranks
from .stats import summary

PROGRAM = Path(__file__).resolve().parent / "binding_prog.py"
INTERLEAVED = Path(__file__).resolve().parent / "interleaved_prog.py"
MiB = 1 << 20
IMPLS = ("c", "mpi4py", "mpikernel")

# Parameters per mode. Sizes are (bytes, round trips per sample).
MODES = {
    "quick": {  # seconds even when the 2 cores are shared with other busy jobs
        "rounds": 1,
        "timeout": 60,
        "pingpong": {"sizes": [[8, 200], [MiB, 10], [64 * MiB, 1]], "warmup": 10, "reps": 3},
        "pickle_small": {"iters": 200, "warmup": 10, "reps": 3},
        "dict_array": {"nbytes": 64 * MiB, "iters": 1, "reps": 2},
        "window": {"windows": [[4 * MiB, 64, 1], [4 * MiB, 1, 5], [64 * 1024, 16, 10], [8, 64, 50]], "reps": 3},
        "allreduce_int": {"iters": 100, "warmup": 10, "reps": 3},
        "bcast_dict": {"nbytes": 10_000_000, "arrays": 4, "iters": 1, "reps": 3},
        "jacobi": {"points": 1000, "iters": 100, "warmup": 10, "reps": 2, "load": 2, "load_bound": 30},
        "barrier_cpu": {"block": 0.5},
        "ctrl_c": {"delay": 0.2, "bound": 1.0},
    },
    "full": {  # ~5 minutes; many short rounds rather than few long ones (see paired_ratios)
        "rounds": 5,
        "timeout": 600,
        "pingpong": {"sizes": [[8, 5000], [MiB, 100], [64 * MiB, 4]], "warmup": 200, "reps": 5},
        "pickle_small": {"iters": 3000, "warmup": 200, "reps": 5},
        "dict_array": {"nbytes": 64 * MiB, "iters": 2, "reps": 3},
        "window": {"windows": [[4 * MiB, 64, 3], [4 * MiB, 1, 50], [64 * 1024, 16, 100], [8, 64, 500]],
                   "reps": 5},
        "allreduce_int": {"iters": 300, "warmup": 50, "reps": 5},
        "bcast_dict": {"nbytes": 10_000_000, "arrays": 4, "iters": 3, "reps": 5},
        "jacobi": {"points": 1000, "iters": 1000, "warmup": 50, "reps": 3, "load": 2, "load_bound": 120},
        "barrier_cpu": {"block": 5.0},
        "ctrl_c": {"delay": 0.5, "bound": 3.0},
    },
}


@dataclass(frozen=True)
class Target:
    """One line of the table: `ours` metric against `anchor_impl`'s `anchor` metric."""

    label: str
    ours: str
    anchor_impl: str
    anchor: str
    kind: str  # "time" (lower is better), "rate" (higher is better), "cpu", "interrupt"
    bound: float | None  # None: a context row, no target
    nbytes: int = 0

    @property
    def target_text(self):
        if self.bound is None:
            return "(context)"
        if self.kind == "time":
            return f"≤{self.bound:g}×"
        if self.kind == "rate":
            return f"≥{self.bound:g}×"
        if self.kind == "cpu":
            return f"≤{self.bound:.0%} of a core"
        return f"≤{self.bound:g} s"


def window_target(nreq, nbytes, label):
    key = f"window:{nreq}x{nbytes}"
    return Target(f"nonblocking window, {nreq} x Isend/Irecv of {label} + Waitall", key, "mpi4py", key,
                  "rate", 0.95, nreq * nbytes)


TARGETS = [
    Target("8 B ping-pong latency (one way, Send/Recv)", "pingpong:8", "mpi4py", "pingpong:8", "time", 1.0),
    Target("8 B ping-pong latency (one way, Send/Recv)", "pingpong:8", "c", "pingpong:8", "time", 1.3),
    Target("bandwidth 1 MiB (Send/Recv ping-pong)", f"pingpong:{MiB}", "c", f"pingpong:{MiB}", "rate", 0.95, MiB),
    Target("bandwidth 64 MiB (Send/Recv ping-pong)", f"pingpong:{64 * MiB}", "c", f"pingpong:{64 * MiB}", "rate", 0.95, 64 * MiB),
    Target("small dict round trip (send/recv)", "pickle_small", "mpi4py", "pickle_small", "time", 0.9),
    Target("dict with 64 MiB array, send/recv bandwidth", "dict_array", "mpi4py", "dict_array", "rate", 4.0, 64 * MiB),
    # C's figure for this row is its Send/Recv of the same 64 MiB (aliased as "dict_array")
    Target("dict with 64 MiB array, send/recv bandwidth", "dict_array", "c", "dict_array", "rate", 0.7, 64 * MiB),
    window_target(64, 4 * MiB, "4 MiB"),
    window_target(1, 4 * MiB, "4 MiB"),
    window_target(16, 64 * 1024, "64 KiB"),
    window_target(64, 8, "8 B"),
    Target("allreduce(1), 4 ranks", "allreduce_int", "mpi4py", "allreduce_int", "time", 1.0),
    Target("bcast of a 10 MB dict of arrays, 4 ranks (throughput)", "bcast_dict", "mpi4py", "bcast_dict", "rate", 3.0, 10_000_000),
    Target("allreduce(1), 4 ranks, vs MPI_Allreduce of one int", "allreduce_int", "c", "allreduce_int", "time", None),
    Target("bcast of 10 MB, 4 ranks, vs MPI_Bcast of 10 MB (throughput)", "bcast_dict", "c", "bcast_dict", "rate", None, 10_000_000),
    Target("Jacobi sweep (Sendrecv halos + allreduce), 5 ranks on 2 busy cores", "jacobi:5", "mpi4py", "jacobi:5", "time", 1.0),
    Target("Jacobi sweep (Sendrecv halos + allreduce), 4 ranks on 2 busy cores", "jacobi:4", "mpi4py", "jacobi:4", "time", 1.0),
    Target("CPU of a rank blocked in a barrier", "barrier_cpu", "mpi4py", "barrier_cpu", "cpu", 0.10),
    Target("Ctrl-C latency in a blocked barrier", "ctrl_c", "mpi4py", "ctrl_c", "interrupt", 0.5),
]


def metric_key(rec):
    """The samples' name: the case, with its size where one case measures several."""
    if rec["case"] == "pingpong":
        return f"pingpong:{rec['nbytes']}"
    if rec["case"] == "jacobi":
        return f"jacobi:{rec['ranks']}"
    if rec["case"] == "window":
        return f"window:{rec['nreq']}x{rec['nbytes']}"
    return rec["case"]


@dataclass
class Results:
    """Samples per implementation and metric, plus what each run said about its MPI library."""

    mode: str
    samples: dict = field(default_factory=lambda: {i: {} for i in IMPLS})
    meta: dict = field(default_factory=lambda: {i: {} for i in IMPLS})
    info: dict = field(default_factory=dict)
    errors: dict = field(default_factory=lambda: {i: [] for i in IMPLS})
    by_round: dict = field(default_factory=lambda: {i: {} for i in IMPLS})  # impl -> key -> {round: samples}

    def add(self, impl, records, round_=0):
        """Records of one launch. Records naming their impl (interleaved runs) pair sample by
        sample: sample i of every impl was taken in the same repetition, so each is its own
        "round" for the paired ratios."""
        for rec in records:
            case = rec["case"]
            who = rec.get("impl", impl)
            if case == "_info":
                self.info.setdefault(who, rec)
                continue
            key = metric_key(rec)
            self.samples[who].setdefault(key, []).extend(rec["samples"])
            rounds = self.by_round[who].setdefault(key, {})
            if impl == "all":
                for i, x in enumerate(rec["samples"]):
                    rounds.setdefault(f"{round_}.{i}", []).append(x)
            else:
                rounds.setdefault(str(round_), []).extend(rec["samples"])
            extra = {k: v for k, v in rec.items() if k not in ("case", "samples", "unit", "impl")}
            self.meta[who].setdefault(key, []).append(extra)

    def alias_c_dict(self, nbytes):
        """Separate runs: C's anchor for the dict row is its Send/Recv ping-pong of nbytes."""
        key = f"pingpong:{nbytes}"
        if "dict_array" not in self.samples["c"] and key in self.samples["c"]:
            self.samples["c"]["dict_array"] = self.samples["c"][key]
            self.by_round["c"]["dict_array"] = self.by_round["c"].get(key, {})


    def to_json(self):
        return {"mode": self.mode, "samples": self.samples, "by_round": self.by_round,
                "meta": self.meta, "info": self.info, "errors": self.errors}


def python_cmd(impl, cases):
    import json

    return [sys.executable, str(PROGRAM), "--impl", impl, "--config", json.dumps({"cases": cases})]


def launches(mode, c_exes):
    """(impl, ranks, argv, env) for one round, C first; rotated per round by the caller.

    The C ping-pong runs at MPI_Init's level (single), the strictest anchor; the C collectives
    run at MPI_THREAD_MULTIPLE like both bindings, because on an oversubscribed machine MPICH
    at level single spins without yielding and its large bcast becomes pathologically slow.
    """
    p = MODES[mode]
    pp, ar, bc = p["pingpong"], p["allreduce_int"], p["bcast_dict"]
    c_argv = [str(c_exes["pingpong"]), str(pp["reps"]), str(pp["warmup"])] + [f"{n}:{i}" for n, i in pp["sizes"]]
    coll_argv = [str(c_exes["collectives"]), str(ar["reps"]), str(ar["warmup"]), str(ar["iters"]),
                 str(bc["nbytes"]), str(bc["iters"])]
    # ctrl_c last: it leaves an abandoned barrier behind in the binding that can be interrupted
    p2p = [["pingpong", pp], ["pickle_small", p["pickle_small"]], ["dict_array", p["dict_array"]],
           ["window", p["window"]], ["barrier_cpu", p["barrier_cpu"]], ["ctrl_c", p["ctrl_c"]]]
    coll = [["allreduce_int", p["allreduce_int"]], ["bcast_dict", p["bcast_dict"]]]
    out = [("c", 2, c_argv, {"BENCH_THREAD_LEVEL": "single"}),
           ("c", 4, coll_argv, {"BENCH_THREAD_LEVEL": "multiple"})]
    for impl in ("mpi4py", "mpikernel"):
        out += [(impl, 2, python_cmd(impl, p2p), None), (impl, 4, python_cmd(impl, coll), None)]
        out += [(impl, n, python_cmd(impl, [["jacobi", p["jacobi"]]]), None) for n in (5, 4)]
    return out


def interleaved_launches(mode, kernels):
    """One round of the interleaved mode: C, mpi4py and mpikernel alternate inside each launch;
    CPU and Ctrl-C still need a process per binding (they measure the process itself)."""
    p = MODES[mode]

    def cmd(cases):
        import json

        return [sys.executable, str(INTERLEAVED), "--kernels", str(kernels),
                "--config", json.dumps({"cases": cases})]

    p2p = [["pingpong", p["pingpong"]], ["pickle_small", p["pickle_small"]], ["dict_array", p["dict_array"]]]
    coll = [["allreduce_int", p["allreduce_int"]], ["bcast_dict", p["bcast_dict"]]]
    waiting = [["barrier_cpu", p["barrier_cpu"]], ["ctrl_c", p["ctrl_c"]]]
    return [("all", 2, cmd(p2p), None), ("all", 4, cmd(coll), None),
            ("mpi4py", 2, python_cmd("mpi4py", waiting), None),
            ("mpikernel", 2, python_cmd("mpikernel", waiting), None)]


def run(mode="quick", rounds=None, impls=IMPLS, log=print, interleaved=False):
    """Run all binding benchmarks; return Results."""
    p = MODES[mode]
    rounds = rounds or p["rounds"]
    res = Results(mode + (" interleaved" if interleaved else ""))
    try:
        c_exes = {name: cbuild.compile_program(name) for name in ("pingpong", "collectives")}
        res.info["c_build"] = {"mpicc": cbuild.find_mpicc(), **{k: str(v) for k, v in c_exes.items()}}
    except cbuild.BuildError as exc:
        c_exes = None
        res.errors["c"].append(str(exc))
    plan = [x for x in launches(mode, c_exes or {"pingpong": "-", "collectives": "-"}) if x[0] in impls]
    if c_exes is None:
        plan = [x for x in plan if x[0] != "c"]
    if interleaved:
        plan = interleaved_launches(mode, cbuild.compile_program("kernels", shared=True))
    for r in range(rounds):
        shift = r % len(plan)
        for impl, n, argv, env in plan[shift:] + plan[:shift]:
            if impl == "mpikernel" and res.errors[impl] and not res.samples[impl]:
                continue  # the binding does not import: one error is enough
            log(f"[round {r + 1}/{rounds}] {impl} on {n} ranks: {describe(argv)}")
            t0 = time.monotonic()
            try:
                res.add(impl, run_ranks(n, argv, timeout=p["timeout"], env=env), r)
                log(f"  done in {time.monotonic() - t0:.1f} s")
            except LaunchError as exc:
                res.add(impl, exc.records, r)
                res.errors["mpikernel" if impl == "all" else impl].append(str(exc))
                log(f"  FAILED: {str(exc).splitlines()[0]}")
    res.alias_c_dict(p["dict_array"]["nbytes"])
    return res


def describe(argv):
    if "--config" in argv:
        import json

        cases = json.loads(argv[argv.index("--config") + 1])["cases"]
        return ", ".join(c[0] for c in cases)
    return Path(argv[0]).name


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class Row:
    target: Target
    anchor: dict | None  # summary of the anchor's metric (rates converted), or None
    ours: dict | None
    ratio: float | None
    met: bool | None
    note: str = ""
    round_ratios: list = field(default_factory=list)


def paired_ratios(res, t):
    """ours/anchor per round (medians within the round): drift between rounds cancels out."""
    o_rounds = res.by_round.get("mpikernel", {}).get(t.ours, {})
    a_rounds = res.by_round.get(t.anchor_impl, {}).get(t.anchor, {})
    ratios = []
    for r in sorted(set(o_rounds) & set(a_rounds), key=lambda k: tuple(map(int, k.split(".")))):
        o, a = o_rounds[r], a_rounds[r]
        if o and a:
            if t.kind == "rate":
                o, a = [t.nbytes / x for x in o], [t.nbytes / x for x in a]
            ratios.append(summary(o)["median"] / summary(a)["median"])
    return ratios


def metric_values(res, impl, key, target):
    values = res.samples.get(impl, {}).get(key)
    if not values:
        return None
    if target.kind == "rate":
        values = [target.nbytes / t for t in values]
    return values


def evaluate(res):
    rows = []
    for t in TARGETS:
        if t.kind == "interrupt":
            rows.append(evaluate_interrupt(res, t))
            continue
        a = metric_values(res, t.anchor_impl, t.anchor, t)
        o = metric_values(res, "mpikernel", t.ours, t)
        sa, so = (summary(a) if a else None), (summary(o) if o else None)
        ratio = met = None
        ratios = paired_ratios(res, t)
        if sa and so:
            ratio = summary(ratios)["median"] if ratios else so["median"] / sa["median"]
            if t.bound is None:
                met = None
            elif t.kind == "time":
                met = ratio <= t.bound
            elif t.kind == "rate":
                met = ratio >= t.bound
            else:  # cpu: an absolute bound on ours
                met = so["median"] <= t.bound
        rows.append(Row(t, sa, so, ratio, met, round_ratios=ratios))
    return rows


def evaluate_interrupt(res, t):
    """Ctrl-C: ours must raise within the bound; the anchor is shown by whether it raised at all."""
    a_meta = res.meta.get(t.anchor_impl, {}).get("ctrl_c", [])
    o_vals = res.samples.get("mpikernel", {}).get("ctrl_c", [])
    o_meta = res.meta.get("mpikernel", {}).get("ctrl_c", [])
    anchor = None
    if a_meta:
        blocked = [m for m in a_meta if m["released_by"] == "message"]
        anchor = {"interrupted": len(blocked), "runs": len(a_meta),
                  "bound": a_meta[0]["bound"] - a_meta[0]["delay"],
                  "raised_after_release": [m["latency"] for m in a_meta if m["released_by"] == "timeout"]}
    ours = summary(o_vals) if o_vals else None
    note = ""
    if o_meta and len(o_vals) < len(o_meta):
        note = f"ours was not interrupted while blocked in {len(o_meta) - len(o_vals)} of {len(o_meta)} runs"
    met = None
    if o_meta:
        met = bool(ours) and len(o_vals) == len(o_meta) and ours["max"] <= t.bound
    return Row(t, anchor, ours, None, met, note)


def same_library(res):
    """(bool, text): did C, mpi4py and mpikernel load the same libmpi?"""
    import os

    seen = {}
    for impl in IMPLS:
        info = res.info.get(impl)
        if info:
            paths = tuple(sorted(os.path.realpath(p) for p in info.get("libmpi", [])))
            # (Open MPI counts the string's NUL in its length: C prints without it, Python keeps it)
            version = info.get("library_version", "").rstrip("\x00").strip()
            seen[impl] = (paths, tuple(version.splitlines()[:1]))
    if not seen:
        return False, "no run reported its MPI library"
    distinct = set(seen.values())
    desc = "; ".join(f"{impl}: {', '.join(v[0]) or '?'}" for impl, v in seen.items())
    return len(distinct) == 1, desc
