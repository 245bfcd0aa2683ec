"""A notebook executed headless on the MPI kernel (nbclient), as CI runs the tutorials."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mpikernel.front.display import as_stream

SHARE = str(Path(__file__).resolve().parents[2] / "share" / "jupyter")

pytestmark = [pytest.mark.mpi, pytest.mark.kernel, pytest.mark.timeout(180)]


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "mpikernel-4", "display_name": "MPI (4 ranks)", "language": "python"}
    return nb


def text_of(cell):
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type == "display_data" and as_stream(o.data, o.metadata):
            parts.append(as_stream(o.data, o.metadata)[1])  # the kernel's labelled output
        elif o.output_type == "execute_result":
            parts.append(o.data["text/plain"] + "\n")
    return "".join(parts)


def test_notebook_runs_on_the_mpi_kernel(monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", SHARE)
    nb = notebook(
        "print(f'hello from {rank} of {size}')",
        "total = comm.allreduce(rank)\ntotal",
        "%%local\nimport os\nkernel_pid = os.getpid()\nkernel_pid > 0",
        "%mpi_status",
        "1/0",
    )
    client = NotebookClient(nb, timeout=120, kernel_name="mpikernel-4", allow_errors=True)
    client.execute()
    hello, total, local, status, error = nb.cells
    for r in range(4):
        assert f"[rank {r}]\nhello from {r} of 4\n" in text_of(hello)
    assert text_of(total) == "[ranks 0-3]\n6\n"
    assert [o.execution_count for o in total.outputs if o.output_type == "execute_result"] == [2]
    assert text_of(local) == "True\n"
    assert "4 ranks" in text_of(status)
    (err,) = [o for o in error.outputs if o.output_type == "error"]
    # the rank's own exception names the error (nbclient's allow_errors lists key on it)
    assert err.ename == "ZeroDivisionError" and "[ranks 0-3] ZeroDivisionError" in "\n".join(err.traceback)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4, 5]


def test_notebook_stops_at_an_error_on_the_ranks(monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", SHARE)
    nb = notebook("x = rank", "if rank == 2:\n    raise ValueError('bad rank')", "print('not reached')")
    client = NotebookClient(nb, timeout=120, kernel_name="mpikernel-4")
    with pytest.raises(CellExecutionError, match="bad rank"):
        client.execute()
    assert nb.cells[2].outputs == []
