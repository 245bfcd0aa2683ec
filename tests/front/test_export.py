"""`python -m mpikernel export`: a notebook as a script and a batch job (mpikernel/front/export.py).

What "reproduces the notebook" means here, decided for the tutorials 01-06:
- every exported script runs to a clean exit under `mpiexec -n 4` (the notebooks check their own
  results with asserts, and the asserts run in the script too, so a clean exit is already most of
  the proof), with no traceback on stderr;
- and the lines it prints are the lines the notebook printed: the notebook is run with nbclient on
  "MPI (4 ranks)", each output line counted once per rank of its "[ranks ...]" header (ranks'
  interleaving differs between the two runs, so lines are compared as multisets), leaving out
  lines that differ between any two runs (timings, pids) and the cells the export leaves out
  (tagged raises-exception / skip-export, and magics that only look, like %mpi_status).
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mpikernel.front import export as ex

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "notebooks").glob("0[1-6]-*.ipynb"))


def notebook(tmp_path, *cells, kernel="mpikernel-4", tags=None):
    """A .ipynb file of code cells (tags: {cell index: [tags]})."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": kernel}},
          "cells": [{"cell_type": "code", "source": c, "metadata": {"tags": (tags or {}).get(i, [])},
                     "outputs": [], "execution_count": None} for i, c in enumerate(cells)]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def script_of(tmp_path, *cells, **kw):
    plain, parsed = ex.read_notebook(notebook(tmp_path, *cells, **kw))
    return ex.script("nb", parsed, plain, 4)


# ------------------------------------------------------------------------ translation, pure


def test_rank_cells_in_order_with_the_last_expression_shown(tmp_path):
    text = script_of(tmp_path, "x = rank ** 2\nx", "print(x)", "y = 1;")
    assert text.index("x = rank ** 2\n_show(x)") < text.index("print(x)")
    assert "_show(print" not in text and "y = 1;" in text and "_show(y" not in text


def test_px_mpi_ranks_becomes_a_rank_guard_and_trace_is_dropped(tmp_path):
    text = script_of(tmp_path, "%%px_mpi --ranks 0,2 --timeout 5\nprint(rank)", "%%trace out.json --ranks 1\nz = 1")
    assert "if rank in (0, 2):\n    print(rank)" in text
    assert "if rank in (1,):\n    z = 1" in text and "%%" not in text.split("# ---- code cell 1", 1)[1]


def test_a_multiline_string_is_not_changed_by_the_guard(tmp_path):
    text = script_of(tmp_path, '%%px_mpi --ranks 0\ns = """a\nb"""\nprint(s)')
    assert "exec(compile(r'''" in text
    ns = {"rank": 0, "_show": print, "print": lambda *a: ns.setdefault("out", a)}
    exec(text.split("# ---- code cell 1\n")[1], ns)
    assert ns["out"] == ("a\nb",)


def test_local_cells_pull_and_push(tmp_path):
    text = script_of(tmp_path, "%%local\npulled = %mpi_pull --ranks 0 history\nh = pulled[0]",
                     "%mpi_pull everyone", "%mpi_status\n%px_where")
    assert "_local(1, ['history'], r'''\npulled = _mpi_pull('history', [0])\nh = pulled[0]\n''')" in text
    assert "_local(2, ['everyone'], r'''\n_show(_mpi_pull('everyone', None))\n''')" in text
    assert "# %mpi_status: only meaningful in a notebook, left out" in text


def test_a_python_notebook_runs_plain_cells_locally(tmp_path):
    text = script_of(tmp_path, "%load_ext mpikernel\n%mpi_start -n 4", "w = [1, 2]\n%mpi_push w",
                     "%%px_mpi\nprint(w[rank % 2])", "%px_mpi t = rank", kernel="python3")
    assert "_local(2, [], r'''\nw = [1, 2]\n''')\n_push(['w'])" in text
    assert "print(w[rank % 2])" in text and "\nt = rank\n" in text


def test_tagged_cells_are_left_out(tmp_path):
    text = script_of(tmp_path, "1/0", "os.kill(0, 2)", "ok = 1", tags={0: ["raises-exception"], 1: ["skip-export"]})
    assert "1/0" not in text and "os.kill" not in text and "ok = 1" in text
    assert "# ---- code cell 1: tagged raises-exception, left out" in text


@pytest.mark.parametrize("cell, words", [
    ("%timeit x = 1", "code cell 1 ('%timeit x = 1'): line 1 is an IPython magic"),
    ("!ls", "code cell 1 ('!ls'): line 1 is an IPython magic"),
    ("%%bash\nls", "%%bash has no batch-job form"),
    ("%mpi_restart", "%mpi_restart has no batch-job form"),
    ("%%local\nx = %mpi_pull a b", "%mpi_pull names one variable"),
    ("%%px_mpi --ranks 9\nx=1", "--ranks"),
    ("if x\n  y", "syntax error"),
])
def test_what_a_batch_job_cannot_do_is_refused_naming_the_cell(tmp_path, cell, words):
    with pytest.raises(ex.ExportError, match=re.escape(words)):
        script_of(tmp_path, cell)


def test_job_files():
    from mpikernel.cluster.slurm import SlurmOptions

    name, text = ex.job_file("nb", 8, "slurm", SlurmOptions(partition="debug", time="00:10:00", nodes="2"), "py")
    assert name == "nb.sbatch"
    for line in ("#SBATCH --ntasks=8", "#SBATCH --partition=debug", "#SBATCH --time=00:10:00",
                 "#SBATCH --nodes=2", 'srun "${PYTHON:-py}" nb.py'):
        assert line in text.splitlines(), (line, text)
    name, text = ex.job_file("nb", 4, "mpiexec", python="py")
    # the launcher's own path: .../bin/mpiexec, or Debian's /usr/bin/mpiexec.openmpi / .mpich
    assert name == "nb.sh" and re.search(r'exec "\$\{MPIEXEC:-\S*/mpiexec(\.\w+)?\}" -n 4 .*"\$\{PYTHON:-py\}" nb.py', text), text


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mpikernel", "export", *args], capture_output=True, text=True, timeout=60)


def test_cli_writes_both_files_and_says_so(tmp_path):
    nb = notebook(tmp_path, "print(rank)")
    res = cli(str(nb), "-o", str(tmp_path / "out"), "--ranks", "2", "--launcher", "slurm", "--time", "5")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "nb.py").exists() and "#SBATCH --time=5" in (tmp_path / "out" / "nb.sbatch").read_text()
    assert "wrote" in res.stdout


@pytest.mark.parametrize("args, words", [
    (["--partition", "p"], "--partition is a Slurm option: add --launcher slurm"),
    (["--launcher", "slurm", "--time", "soon"], "not a Slurm time"),
    (["--ranks", "0"], "--ranks must be 1 or more"),
])
def test_cli_mistakes_are_one_sentence(tmp_path, args, words):
    res = cli(str(notebook(tmp_path, "x = 1")), *args)
    assert res.returncode != 0 and words in res.stderr and "Traceback" not in res.stderr


def test_cli_refusal_names_the_cell(tmp_path):
    res = cli(str(notebook(tmp_path, "x = 1", "%timeit x")))
    assert res.returncode == 1 and "code cell 2" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "nb.py").exists()


# ---------------------------------------------------------------- the tutorials as batch jobs


# timings, pids, and how much work was overlapped with a transfer (02): not the same in two runs
VOLATILE = re.compile(r"pid|process \d|\d+\.\d+ s\b| us |\bms\b|MB/s|chunks of work")


def _exported(path, tmp_path):
    ex.export(path, tmp_path)
    return (tmp_path / f"{path.stem}.py").read_text()


@pytest.mark.mpi
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_a_batch_job(path, tmp_path, mpirun):
    res = mpirun(_exported(path, tmp_path), n=4, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.lines(), "the script printed nothing"


def _notebook_lines(nb, skipped) -> dict[int, collections.Counter]:
    """{rank: its stdout lines and results} of the executed notebook: a block's lines go to every
    rank of its header; a cell without headers ran in the kernel process (rank 0 in the script)."""
    lines = collections.defaultdict(collections.Counter)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        if i + 1 in skipped:
            continue
        ranks = [0]
        for o in cell.outputs:
            info = o.get("metadata", {}).get("mpikernel", {})
            text = o.text if o.output_type == "stream" and o.name == "stdout" else (
                o.data["text/plain"] if o.output_type == "execute_result" else "")
            if info.get("kind") == "header":
                ranks = info["ranks"]
            if info.get("kind") == "results":  # ONE execute_result holding each rank's value under its label
                for label_ranks, value in _labelled(text):
                    for r in label_ranks:
                        lines[r].update(_steady(value))
                continue
            for r in ranks:
                lines[r].update(_steady(text))
    return dict(lines)


LABEL = re.compile(r"^\[ranks? ([0-9,\-]+)\]$")


def _labelled(text):
    """[(ranks, text)] of a labelled text/plain ('[rank 0]\n0\n[rank 1]\n1')."""
    from mpikernel.notation import parse_ranks

    parts = []
    for line in text.splitlines():
        m = LABEL.match(line)
        if m:
            parts.append((parse_ranks(m.group(1)), []))
        elif parts:
            parts[-1][1].append(line)
    return [(ranks, "\n".join(body)) for ranks, body in parts]


def _steady(text) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not VOLATILE.search(ln)]


RUN_PER_RANK = """
import runpy, sys
from mpikernel import MPI
sys.stdout = open(f"{out}/rank{{MPI.COMM_WORLD.Get_rank()}}.txt", "w")
runpy.run_path({script!r}, run_name="__main__")
"""


UNSEEDED = re.compile(r"default_rng\(\)")  # the exercises' fresh tokens: different on every run


def _skipped(path) -> set[int]:
    """Code cells the export leaves out, or whose output it does not reproduce (%mpi_status)."""
    plain, cells = ex.read_notebook(path)
    return {c.number for c in cells if c.tags & set(ex.SKIP_TAGS)
            or re.match(r"\s*%(mpi_status|px_where|px_diff|mpi_debug)", c.source)}


def _before_the_exercises(nb):
    """`nb` up to its first exercise. The exercises draw new random tokens on every run (so that
    their checks cannot be faked), which no second run reproduces; they still run in the script,
    where test_tutorial_runs_as_a_batch_job fails on any check that does not pass."""
    for i, c in enumerate(nb.cells):
        tags = set(c.get("metadata", {}).get("tags", []))
        if c.cell_type == "code" and (tags & {"solution", "check"} or UNSEEDED.search(c.source)):
            nb.cells = nb.cells[:i]
            break
    return nb


@pytest.mark.mpi
@pytest.mark.notebooks
@pytest.mark.timeout(900)
def test_tutorials_print_what_the_notebooks_printed(tmp_path, mpirun):
    import nbformat
    from nbclient import NotebookClient

    from world_helpers import use_shipped_kernel_specs

    restore = use_shipped_kernel_specs()
    try:
        for path in TUTORIALS:
            nb = _before_the_exercises(nbformat.read(path, as_version=4))
            path = tmp_path / path.name
            nbformat.write(nb, path)
            NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="mpikernel-4",
                           resources={"metadata": {"path": str(tmp_path)}}).execute()
            want = _notebook_lines(nb, _skipped(path))
            _exported(path, tmp_path)  # each rank's stdout to its own file: the lines cannot interleave
            mpirun(RUN_PER_RANK.format(out=tmp_path, script=str(tmp_path / f"{path.stem}.py")), n=4, timeout=120)
            got = {r: collections.Counter(_steady((tmp_path / f"rank{r}.txt").read_text())) for r in range(4)}
            got = {r: c for r, c in got.items() if c}
            assert got == want, (path.name, {r: (got.get(r, {}) - want.get(r, {}), want.get(r, {}) - got.get(r, {}))
                                              for r in range(4)})
    finally:
        restore()
