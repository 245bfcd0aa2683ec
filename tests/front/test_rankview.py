"""The rank view (mpikernel/front/rankview.py) and %px_where: drawing (pure), then on live ranks in
a terminal screen, through the magics' shell (interrupt, idle, restart), and in the MPI kernel
(one display id, updated in place, emptied at the end)."""

from __future__ import annotations

import io
import re
import threading
import time
import _thread

import pytest
from IPython.core.error import UsageError

from mpikernel.cells import diagnose
from mpikernel.cells.runner import RanksError, RanksInterrupted, run_cell
from mpikernel.cells.screen import Screen
from mpikernel.front import rankview as rv
from mpikernel.front.screens import KernelScreen, NotebookScreen

pytestmark = pytest.mark.world(shell=True)  # the module's world is %mpi_start's, for %px_where

# ------------------------------------------------------------------------------------ pure


def state(r, kind, line=None, **waiting):
    return diagnose.RankState(r, kind, waiting or None, line, "x")


def recv(r, source, waited, line=4):
    return state(r, diagnose.BLOCKED, line, call="Recv", peer=source, tag=0, waited=waited)


@pytest.mark.parametrize("value, after", [("", 1.0), ("on", 1.0), ("off", None), ("0", None), ("no", None),
                                          ("2.5", 2.5)])
def test_the_switch(value, after):
    assert rv.view_after({rv.ENV: value}) == after


def test_a_wrong_switch_names_the_variable():
    with pytest.raises(ValueError, match="MPIKERNEL_RANK_VIEW='soon'"):
        rv.view_after({rv.ENV: "soon"})


def test_every_state_has_its_words():
    spots = rv.places({0: state(0, diagnose.COMPUTING, 7), 1: recv(1, 3, 2.14), 2: state(2, diagnose.FINISHED),
                       3: state(3, diagnose.FAILED), 4: state(4, diagnose.COMPUTING), 5: state(5, diagnose.OUTSIDE),
                       6: state(6, diagnose.COMPUTING, 2)}, dead={6})
    assert [p.text for p in spots.values()] == [
        "running Python line 7", "in comm.Recv(source=3) since 2.1 s at line 4", "finished", "raised",
        "busy (not answering: a long call holds its interpreter)", "not in this cell", "dead"]
    assert spots[1].short == "Recv" and spots[1].detail == "2.1 s" and spots[0].short == "L7"


def test_ranks_at_one_place_are_named_together_with_the_longest_wait():
    spots = rv.places({0: recv(0, 3, 1.0), 1: recv(1, 3, 2.5), 2: recv(2, 3, 0.2), 3: state(3, diagnose.COMPUTING, 9)})
    assert rv.summary(spots, 3.04) == ("3.0 s: ranks 0-2 in comm.Recv(source=3) since 2.5 s at line 4; "
                                       "rank 3 running Python line 9")


def test_64_ranks_fit_one_row_of_small_cells():
    states = {r: recv(r, 0, 1.5) if r % 2 else state(r, diagnose.COMPUTING, 3) for r in range(64)}
    page = rv.strip_html(rv.places(states), "caption")
    assert page.count('data-rank="') == 64
    assert page.count("display:flex") == 1  # one row
    assert "flex-wrap" not in page and 'data-state="waiting"' in page and "caption" in page
    assert re.search(r'title="rank 63: in comm.Recv\(source=0\) since 1.5 s at line 4"', page)


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_terminal_line_is_redrawn_in_place_and_erased():
    tty = Tty()
    d = rv.TerminalDrawer(tty)
    spots = rv.places({0: state(0, diagnose.COMPUTING, 7)})
    d.draw(spots, 1.0)
    d.draw(spots, 1.5)
    d.close()
    text = tty.getvalue()
    assert text.startswith("\rranks: 1.0 s: rank 0 running Python line 7")
    assert "\rranks: 1.5 s" in text and text.endswith("\r") and "\n" not in text


def test_live_output_takes_the_line_away_first():
    tty = Tty()
    inner = Screen()
    screen = rv.RankViewScreen(inner, 1.0, rv.TerminalDrawer(tty))
    screen.ranks({0: state(0, diagnose.COMPUTING, 2)}, 1.0)
    shown = []
    inner.live = lambda r, t: shown.append(tty.getvalue())
    screen.live(0, "hello\n")
    assert shown[0].endswith(" \r")  # erased before the output was written
    screen.flush()
    assert tty.getvalue().endswith("rank 0 running Python line 2")  # and drawn again after it


def test_which_screens_get_a_view(monkeypatch):
    monkeypatch.delenv(rv.ENV, raising=False)
    plain = Screen()
    assert rv.with_rank_view(plain, stream=io.StringIO()) is plain  # a pipe or a log: no view
    assert isinstance(rv.with_rank_view(plain, stream=Tty()).drawer, rv.TerminalDrawer)
    assert isinstance(rv.with_rank_view(NotebookScreen()).drawer, rv.NotebookDrawer)
    assert isinstance(rv.with_rank_view(KernelScreen(print)).drawer, rv.NotebookDrawer)
    monkeypatch.setenv(rv.ENV, "off")
    assert rv.with_rank_view(plain, stream=Tty()) is plain


# --------------------------------------------------------------------- on live ranks

SLOW = "import time\nif rank == 0:\n    time.sleep(2.5)\n    comm.send(1, dest=3)\nif rank == 3:\n    comm.recv(source=0)\n"


def viewed(world, code, **kw):
    """(what the terminal showed, the result or exception) of `code` run with a rank view on a tty."""
    tty = Tty()
    screen = rv.with_rank_view(Screen(), stream=tty)
    try:
        res = run_cell(world, code, screen=screen, **kw)
    except (RanksError, RanksInterrupted) as e:
        res = e
    return tty.getvalue(), res


@pytest.mark.mpi
class TestLive:
    @pytest.fixture(autouse=True)
    def wide_terminal(self, monkeypatch):
        monkeypatch.setenv("COLUMNS", "300")  # the one-line form is cut to the terminal's width

    def test_states_while_a_cell_runs_then_the_line_is_gone(self, world, capsys):
        text, res = viewed(world, SLOW)
        assert not isinstance(res, Exception)
        frames = [f for f in text.split("\r") if f.strip()]
        assert frames and all(f.startswith("ranks: ") for f in frames)
        assert any("rank 0 running Python line 3" in f and "ranks 1-2 finished" in f
                   and re.search(r"rank 3 in comm.recv\(source=0\) since \d", f) for f in frames), frames
        assert text.endswith("\r") and not text.split("\r")[-2].strip()  # erased: the merged output follows

    def test_a_short_cell_shows_no_view(self, world):
        text, _ = viewed(world, "x = comm.allreduce(rank)")
        assert text == ""

    def test_a_rank_that_raised(self, world):
        text, res = viewed(world, "import time\nif rank == 1:\n    raise ValueError('no')\ntime.sleep(1.8)")
        assert isinstance(res, RanksError)
        assert "rank 1 raised" in text

    def test_the_off_switch(self, world, monkeypatch):
        monkeypatch.setenv(rv.ENV, "off")
        assert viewed(world, SLOW)[0] == ""

    def test_interrupt_with_the_view_on_then_the_next_cell(self, world):
        threading.Timer(2.0, _thread.interrupt_main).start()
        text, res = viewed(world, "if rank != 0:\n    comm.barrier()\nelse:\n    import time; time.sleep(60)")
        assert isinstance(res, RanksInterrupted)
        assert "ranks 1-3 in comm.barrier()" in text and text.endswith("\r")
        assert run_cell(world, "total = comm.allreduce(rank)").outputs is not None
        assert world.pull("total") == [6, 6, 6, 6]

    def test_px_where_when_idle(self, shell, world):
        places = shell.run_line_magic("px_where", "")
        assert [p.text for p in places.spots.values()] == ["idle"] * 4
        assert "rank   0  idle" in repr(places) and 'data-state="idle"' in places._repr_html_()
        with pytest.raises(UsageError, match="no arguments"):
            shell.run_line_magic("px_where", "3")

    def test_px_where_sees_running_ranks_without_interrupting_them(self, world):
        code = "import time\nif rank == 2:\n    time.sleep(1.5)\n    comm.send('go', dest=1)\nif rank == 1:\n    got = comm.recv(source=2)\n"
        ar = world.view().execute(code, block=False)
        try:
            time.sleep(0.8)
            places = rv.where_now(world)
        finally:
            ar.get(timeout=30)
        assert places.spots[2].text == "running Python line 3"
        assert places.spots[1].state == "waiting" and places.call(1) == "comm.recv(source=2)"
        assert places.line(1) == 6 and "got = comm.recv(source=2)" in repr(places)
        assert world.pull("got", ranks=[1]) == ["go"]  # nothing was interrupted

    def test_mpi_rank_view_magic(self, shell, monkeypatch, capsys):
        monkeypatch.setenv(rv.ENV, "on")  # so that monkeypatch puts back what the magic changes
        shell.run_line_magic("mpi_rank_view", "off")
        assert rv.view_after() is None and "rank view off" in capsys.readouterr().out
        shell.run_line_magic("mpi_rank_view", "2")
        assert rv.view_after() == 2.0
        with pytest.raises(UsageError, match="MPIKERNEL_RANK_VIEW"):
            shell.run_line_magic("mpi_rank_view", "later")


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_idle_and_restart_keep_working_with_the_view():
    """A cell with the view on holds the world in use (the idle watch waits); after the idle
    release and a restart, the view and %px_where work on the new ranks."""
    from mpikernel.front import options as opt
    from mpikernel.front.session import Session

    s = Session()
    s.start(opt.start_options(2, idle_timeout=1.5))
    try:
        tty = Tty()
        s.run("import time; time.sleep(2.5)", screen=rv.with_rank_view(Screen(), stream=tty))
        assert "ranks 0-1 running Python line 1" in tty.getvalue()
        assert s.world is not None, "the idle watch stopped the world under a running cell"
        until = time.monotonic() + 10
        while s.world is not None and time.monotonic() < until:
            time.sleep(0.2)
        assert s.world is None and s.released
        s.start(s.started_with)
        old = s.world.processes()
        s.restart()
        assert not set(old) & set(s.world.processes())
        assert [p.text for p in rv.where_now(s.world).spots.values()] == ["idle", "idle"]
        tty = Tty()
        s.run("import time; time.sleep(1.6)", screen=rv.with_rank_view(Screen(), stream=tty))
        assert "ranks 0-1 running Python line 1" in tty.getvalue()
    finally:
        s.stop()


# ---------------------------------------------------------------------- in the MPI kernel


SLOW_PRINTING = SLOW.replace("comm.recv(source=0)", "got = comm.recv(source=0)\n    print('got', got)")


def assert_one_display_id(msgs):
    """The rank view of one cell: a display_data, updates of the same id, emptied before the merged output."""
    views = [m for m in msgs if "mpikernel-rank-view" in m["content"].get("data", {}).get("text/html", "")]
    assert views and views[0]["msg_type"] == "display_data", [m["msg_type"] for m in msgs]
    ids = {m["content"]["transient"]["display_id"] for m in views}
    assert len(ids) == 1, ids
    assert all(m["msg_type"] == "update_display_data" for m in views[1:])
    (shown_id,) = ids
    last = [m for m in msgs if m["content"].get("transient", {}).get("display_id") == shown_id][-1]
    assert last["msg_type"] == "update_display_data" and last["content"]["data"] == {"text/plain": ""}
    assert "rank 3 in comm.recv(source=0)" in views[0]["content"]["data"]["text/plain"]
    merged = [i for i, m in enumerate(msgs) if m["msg_type"] == "stream" and "got 1" in m["content"]["text"]]
    assert merged and msgs.index(last) < merged[-1]  # the merged output comes after the view is gone


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(180)
def test_the_magics_in_a_python_kernel_one_display_id_too():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        def run(code, timeout=120):
            msgs = []
            reply = kc.execute_interactive(code, timeout=timeout, output_hook=msgs.append)
            assert reply["content"]["status"] == "ok", reply["content"]
            return msgs

        run("%load_ext mpikernel\n%mpi_start -n 4")
        assert_one_display_id(run("%%px_mpi\n" + SLOW_PRINTING))
        run("%mpi_stop")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(180)
def test_in_the_kernel_one_display_id_updated_then_emptied():
    from kernel_client import Kernel
    from world_helpers import use_shipped_kernel_specs

    restore = use_shipped_kernel_specs()
    k = Kernel()
    try:
        k.run("comm.allreduce(rank)", timeout=120)
        content, msgs = k.run(SLOW_PRINTING)
        assert content["status"] == "ok", content
        assert_one_display_id(msgs)
        where, msgs = k.run("%px_where")
        texts = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"]
        assert texts and texts[0].count("idle") == 4, msgs
        k.run("v = rank // 2")
        texts = [m["content"]["data"]["text/plain"] for m in k.run("%px_diff v")[1] if m["msg_type"] == "execute_result"]
        assert texts and "ranks 0-1: 0" in texts[0] and "ranks 2-3: 1" in texts[0]
        k.run("%mpi_rank_view off")
        content, msgs = k.run("import time; time.sleep(1.6)")
        assert not [m for m in msgs if "mpikernel-rank-view" in m["content"].get("data", {}).get("text/html", "")]
    finally:
        k.close()
        restore()


def test_the_rank_view_screen_forwards_every_screen_method():
    """A Screen method RankViewScreen does not override would run the terminal base's version
    (a no-op for live_display) instead of the wrapped notebook screen's."""
    from mpikernel.cells.screen import Screen
    from mpikernel.front.rankview import RankViewScreen

    methods = {n for n, v in vars(Screen).items() if callable(v) and not n.startswith("_")}
    assert methods - set(vars(RankViewScreen)) == set()
