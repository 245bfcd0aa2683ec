"""%mpi_debug: a post-mortem pdb on the rank whose cell failed, driven over ipyparallel."""

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from mpikernel import magics
from mpikernel.debugger import parse_debug_line


def test_parse_debug_line():
    assert parse_debug_line("", 4) == (None, None)
    assert parse_debug_line('2 -c "p x" -c w', 4) == (2, ["p x", "w"])
    for bad, words in [("7", "does not exist"), ("1 2", "unexpected"), ("-c", "needs a pdb command"),
                       ("x", "unexpected")]:
        with pytest.raises(ValueError, match=words):
            parse_debug_line(bad, 4)


@pytest.fixture(scope="module")
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    with capture_output():
        ip.run_line_magic("mpi_start", "-n 2")
    yield ip
    magics.stop_world()


@pytest.mark.mpi
def test_post_mortem_on_the_rank_that_failed(shell):
    with capture_output():
        shell.run_cell("%%px_mpi\nsecret = 100 + rank\nif rank == 1:\n    values = [secret, 0]\n"
                       "    print(values[0] / values[1])")
    with capture_output() as cap:
        shell.run_line_magic("mpi_debug", '-c "p secret" -c "p values" -c "l"')
    text = cap.stdout
    assert "[rank 1] post-mortem debugger" in text, text
    assert "101\n" in text and "[101, 0]" in text, text  # rank 1's variables, not rank 0's
    assert "print(values[0] / values[1])" in text  # the failing line, listed
    with capture_output() as cap:
        shell.run_line_magic("mpi_debug", '1 -c "p rank" -c q')
    assert "(Pdb rank 1) p rank\n1\n" in cap.stdout, cap.stdout
    with capture_output() as cap:  # rank 0 never failed: pdb has nothing to show, and says so
        shell.run_line_magic("mpi_debug", "0 -c w")
    assert "no cell has failed on this rank" in cap.stdout
    with pytest.raises(UsageError, match="does not exist"):
        shell.run_line_magic("mpi_debug", "5")
    with capture_output() as cap:
        shell.run_cell("%px_mpi print(comm.allreduce(rank))")
    assert cap.stdout == "[ranks 0-1]\n1\n"
