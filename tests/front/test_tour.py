"""`python -m mpikernel tour`: the first notebook's cells on 4 ranks, printed in a terminal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TOUR = [sys.executable, "-m", "mpikernel", "tour"]


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(400)
def test_tour_runs_the_first_notebook_on_four_ranks(tmp_path):
    r = subprocess.run(TOUR, capture_output=True, text=True, timeout=360, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout
    assert out.startswith("Tour of 01-hello-ranks.ipynb on 4 MPI ranks")
    assert "".join(f"[rank {i}]\nHello from rank {i} of 4\n" for i in range(4)) in out
    assert "[ranks 0-3]\nHello, everyone!\n" in out
    assert "Out[4]:\n[rank 0]\n0\n[rank 1]\n1\n[rank 2]\n4\n[rank 3]\n9\n" in out  # one labelled result
    assert "[rank 0]\nonly rank 0 runs this cell\n" in out
    assert "'rank' defined here? False" in out  # %%local ran in the kernel process
    assert "[ranks 0-3]\ncorrect!\n" in out
    import nbformat

    first = sorted((Path(__file__).parents[2] / "notebooks").glob("01-*.ipynb"))[0]
    code_cells = sum(c.cell_type == "code" for c in nbformat.read(first, as_version=4).cells)
    assert out.rstrip().endswith(f"{code_cells} cells ran")  # every code cell, none raised
    assert "Traceback" not in r.stderr and "\x1b[" not in out  # not a terminal: no colours


def test_tour_usage_mistakes_are_one_sentence(tmp_path):
    r = subprocess.run(TOUR + [str(tmp_path / "missing.ipynb")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "missing.ipynb is not a notebook this tour can read" in r.stderr
    assert r.stderr.startswith("usage: python -m mpikernel tour")
    r = subprocess.run(TOUR + ["--ranks", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "at least 1" in r.stderr
    r = subprocess.run(TOUR + ["--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "print their merged outputs" in " ".join(r.stdout.split())


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(200)
def test_tour_into_a_closed_pipe_is_quiet(tmp_path):
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run(TOUR, stdout=write, stderr=subprocess.PIPE, text=True, timeout=180)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.returncode == 1
