"""`python -m benchmarks binding|notebook [--quick] [--json PATH] [--markdown PATH]`."""

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from . import report

RESULTS = Path(__file__).resolve().parent / "results"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wait_for_quiet(limit, max_wait):
    """Wait (at most max_wait s) until the 1-minute load average is below `limit`."""
    if limit is None:
        return
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        log(f"load average {os.getloadavg()[0]:.2f} >= {limit}: waiting for a quieter machine")
        time.sleep(15)


def run_binding(args):
    from . import binding

    m = report.machine()
    t0 = time.monotonic()
    res = binding.run("quick" if args.quick else "full", rounds=args.rounds, log=log,
                      interleaved=args.interleaved)
    rows = binding.evaluate(res)
    same, libs = binding.same_library(res)
    errors = {impl: errs for impl, errs in res.errors.items() if errs}
    lines = [
        f"## Binding ({res.mode} mode, {time.monotonic() - t0:.0f} s)",
        "",
        f"- command: `{args.command_line}` (git {report.git_revision() or '?'})",
        f"- machine: {report.machine_text(m)}, at end {os.getloadavg()[0]:.2f}",
        f"- libmpi: {'same library for all' if same else '**NOT the same library**'} ({libs})",
        "- values: median ±half the interquartile range over all samples; ratio = ours / anchor "
        "of the quantity shown (time or throughput), computed per round from the round's medians; "
        "the table gives the median over rounds and (in brackets) the lowest and highest round",
        "",
        report.table(rows),
    ]
    for impl, errs in errors.items():
        lines += ["", f"Errors from {impl}:", "```", *errs[0].splitlines()[-20:], "```"]
    text = "\n".join(lines) + "\n"
    data = {"machine": m, "command": args.command_line, "same_library": same, "libmpi": libs,
            "results": res.to_json(),
            "rows": [{"label": r.target.label, "anchor_impl": r.target.anchor_impl,
                      "target": r.target.target_text, "anchor": r.anchor, "ours": r.ours,
                      "ratio": r.ratio, "round_ratios": r.round_ratios, "met": r.met,
                      "note": r.note} for r in rows]}
    return text, data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suite", choices=["binding", "notebook"])
    parser.add_argument("--quick", action="store_true", help="seconds, few repetitions (CI)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--interleaved", action="store_true",
                        help="binding: alternate C, mpi4py and mpikernel samples inside one run "
                             "(robust on a busy machine) instead of one process per side")
    parser.add_argument("--json", type=Path, help="write raw samples and the table rows here")
    parser.add_argument("--markdown", type=Path, help="write the markdown report here")
    parser.add_argument("--quiet-load", type=float, metavar="L",
                        help="first wait until the 1-minute load average is below L")
    parser.add_argument("--quiet-wait", type=float, default=600, metavar="S",
                        help="wait at most S seconds for --quiet-load (default 600)")
    args = parser.parse_args(argv)
    args.command_line = "python -m benchmarks " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    wait_for_quiet(args.quiet_load, args.quiet_wait)
    if args.suite == "binding":
        text, data = run_binding(args)
    else:
        from . import notebook

        text, data = notebook.main(args, log=log)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
