"""`python -m mpikernel tour [NOTEBOOK] [--ranks N]`: the first notebook, in a terminal.

For a terminal or a headless server, where JupyterLab is not at hand: it starts the MPI kernel
exactly as Jupyter would (a kernel spec for this Python, through jupyter_client), runs the
notebook's code cells in order, and prints what each cell shows in a notebook — the merged,
labelled outputs, as plain text (`Screen.show`'s form: `[ranks 0-3]` on its own line, then the
text). Markdown headings are printed as the tour's section titles. The default notebook is
`notebooks/01-hello-ranks.ipynb` beside this mpikernel (a source checkout).

Exit status: 0 when every cell ran, 1 when a cell raised (the tour goes on to the end, as
`nbclient --allow-errors`), 2 for a usage mistake.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from mpikernel.cells.merge import strip_ansi
from mpikernel.front.display import as_stream
from mpikernel.front.kernelspec import DEFAULT_RANKS, check_ranks, SpecError

DEFAULT_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-hello-ranks.ipynb"
CELL_TIMEOUT = 300.0  # seconds one cell may take (the first waits for the ranks to come up)


def read_cells(path: Path) -> list[tuple[str, str]]:
    """[(cell_type, source)] of a notebook, in order (ValueError with a sentence when unreadable)."""
    try:
        nb = json.loads(path.read_text())
        return [(c["cell_type"], "".join(c.get("source", ""))) for c in nb["cells"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a notebook this tour can read ({exc})") from None


def output_text(msg: dict) -> tuple[str, str] | None:
    """(stream, text) a terminal shows for one iopub message of a cell, or None for nothing."""
    kind, c = msg["msg_type"], msg["content"]
    if kind == "stream":
        return c["name"], c["text"]
    if kind in ("display_data", "execute_result"):
        label = as_stream(c.get("data", {}), c.get("metadata"))
        if label is not None:
            return label
        text = c.get("data", {}).get("text/plain", "")
        if kind == "execute_result":  # as IPython prints it: a value of several lines starts below
            text = f"Out[{c.get('execution_count')}]:" + ("\n" if "\n" in text else " ") + text
        return "stdout", text + "\n" if text else ""
    if kind == "error":
        return "stderr", "\n".join(c.get("traceback") or [f"{c.get('ename')}: {c.get('evalue')}"]) + "\n"
    return None


class Tour:
    """One MPI kernel from a temporary kernel spec; `run(code)` prints a cell's outputs."""

    def __init__(self, ranks: int, log):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        from mpikernel.front.kernelspec import write_kernel_spec

        self.dir = Path(tempfile.mkdtemp(prefix="mpikernel-tour-"))
        write_kernel_spec(self.dir / "kernels" / "mpikernel-tour", ranks=ranks, executable=sys.executable)
        specs = KernelSpecManager(kernel_dirs=[str(self.dir / "kernels")])
        self.km = KernelManager(kernel_name="mpikernel-tour", kernel_spec_manager=specs)
        self.km.start_kernel(stdout=log, stderr=log)  # the kernel's own log, not the tour's output
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code: str, write) -> bool:
        """Run one cell, writing its outputs as they come; True when it did not raise."""
        def hook(msg):
            shown = output_text(msg)
            if shown and shown[1]:
                write(*shown)

        reply = self.kc.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=hook)
        return reply["content"]["status"] == "ok"

    def close(self):
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel()  # a shutdown_request: the kernel stops its ranks itself
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mpikernel tour",
        description="Run a notebook's cells on MPI ranks in this terminal and print their merged outputs.",
    )
    p.add_argument("notebook", nargs="?", type=Path, default=DEFAULT_NOTEBOOK,
                   help="the notebook (default: notebooks/01-hello-ranks.ipynb of this checkout)")
    p.add_argument("--ranks", type=str, default=str(DEFAULT_RANKS), metavar="N",
                   help=f"number of MPI ranks (default {DEFAULT_RANKS}, as the course expects)")
    return p


def _writer(colour: bool):
    def write(stream: str, text: str) -> None:
        out = sys.stderr if stream == "stderr" else sys.stdout
        sys.stdout.flush()
        out.write(text if colour else strip_ansi(text))
        out.flush()

    return write


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        ranks = check_ranks(args.ranks)
        cells = read_cells(args.notebook)
    except (SpecError, ValueError) as exc:
        parser.error(str(exc))
    write = _writer(sys.stdout.isatty())
    print(f"Tour of {args.notebook.name} on {ranks} MPI ranks (starting them takes a few seconds)", flush=True)
    failed = 0
    with tempfile.TemporaryFile("w+") as log:
        tour = Tour(ranks, log)
        try:
            failed = _run_cells(tour, cells, write)
        finally:
            tour.close()
    print(f"\n{len([c for c in cells if c[0] == 'code'])} cells ran" + (f", {failed} raised" if failed else ""))
    return 1 if failed else 0


def _run_cells(tour: Tour, cells: list[tuple[str, str]], write) -> int:
    """Every code cell in order, with the notebook's headings between them; returns how many raised."""
    failed, n = 0, 0
    for kind, source in cells:
        if kind == "markdown":
            for line in source.splitlines():
                if line.startswith("#"):
                    print(f"\n{line.lstrip('#').strip()}\n{'=' * len(line.lstrip('#').strip())}")
            continue
        if kind != "code" or not source.strip():
            continue
        n += 1
        print(f"\nIn [{n}]: " + source.replace("\n", "\n" + " " * (len(str(n)) + 6)), flush=True)
        if not tour.run(source, write):
            failed += 1
    return failed
