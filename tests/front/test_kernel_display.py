"""The MPI kernel speaks Jupyter's display protocol as ipykernel does, per rank and collapsed:
errors named after the rank's own exception, clear_output, display ids and their updates,
transient data, IPython.display's rich types, matplotlib inline, one execute_result per cell.

One kernel serves the module (4 ranks start in seconds, but seconds add up on a small machine).
"""

import pytest

from kernel_client import Kernel, stream_of

pytestmark = [pytest.mark.mpi, pytest.mark.kernel, pytest.mark.usefixtures("shipped_kernel_specs"), pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        k.run("1", timeout=120)  # the ranks are up
        yield k
    finally:
        k.close()


def of(msgs, kind):
    return [m["content"] for m in msgs if m["msg_type"] == kind]


def user_displays(msgs):
    """display_data contents that are the ranks' own, settled: not the kernel's rank labels, not
    the live copies shown while the cell ran (metadata mpikernel.kind == "live")."""
    return [c for c in of(msgs, "display_data") if stream_of({"msg_type": "display_data", "content": c})[0] is None
            and (c.get("metadata") or {}).get("mpikernel", {}).get("kind") != "live"]


def stdout(msgs):
    return "".join(text for name, text in map(stream_of, msgs) if name == "stdout")


# ------------------------------------------------------------------------------------------ errors


def test_error_is_named_after_the_first_failing_rank(kernel):
    content, msgs = kernel.run("1/0 if rank == 2 else {}['k'] if rank == 3 else rank")
    (err,) = of(msgs, "error")
    assert content["status"] == "error"
    assert (err["ename"], err["evalue"]) == ("ZeroDivisionError", "division by zero")
    assert (content["ename"], content["evalue"]) == ("ZeroDivisionError", "division by zero")
    text = "\n".join(err["traceback"])
    assert "[rank 2] ZeroDivisionError: division by zero" in text
    assert "[rank 3] KeyError: 'k'" in text
    assert err["traceback"][-1] == "other errors: rank 3 raised KeyError: 'k'"


def test_ranks_error_keeps_the_ranks_exception_reachable(kernel):
    """In %%local, the Python side of a failed %%px_mpi: a RanksError that `except KeyError` catches."""
    code = (
        "%%local\n"
        "from mpikernel.front.magics import RanksError\n"
        "try:\n"
        "    get_ipython().run_cell_magic('px_mpi', '', \"{}['x'] if rank == 1 else None\")\n"
        "except KeyError as e:\n"
        "    print('caught', type(e).__name__, isinstance(e, RanksError), e.ename, str(e), e.result.errors[0].ranks)\n"
    )
    content, msgs = kernel.run(code)
    assert content["status"] == "ok", content
    assert "caught KeyError True KeyError 'x' [1]" in stdout(msgs)


def test_custom_exception_name_reaches_the_error_message(kernel):
    content, msgs = kernel.run("class Boom(Exception): pass\nraise Boom('on every rank')")
    (err,) = of(msgs, "error")
    assert (err["ename"], err["evalue"]) == ("Boom", "on every rank")
    assert "[ranks 0-3] Boom: on every rank" in "\n".join(err["traceback"])


# ----------------------------------------------------------------------------------------- results


def test_one_execute_result_when_ranks_agree_and_when_they_differ(kernel):
    _, same = kernel.run("size * 10")
    (res,) = of(same, "execute_result")
    assert res["data"]["text/plain"] == "40"
    _, differ = kernel.run("rank * 10")
    (res,) = of(differ, "execute_result")
    assert res["data"]["text/plain"] == "[rank 0]\n0\n[rank 1]\n10\n[rank 2]\n20\n[rank 3]\n30"
    html = res["data"]["text/html"]
    assert all(f"[rank {r}]" in html for r in range(4)) and "30" in html


# ----------------------------------------------------------------------------------------- display


def test_clear_output_wait_loop_leaves_the_last_print(kernel):
    code = (
        "from IPython.display import clear_output\n"
        "for i in range(20):\n"
        "    clear_output(wait=True)\n"
        "    print(f'step {i} on rank {rank}' if rank == 0 else f'step {i}')\n"
    )
    content, msgs = kernel.run(code)
    assert content["status"] == "ok"
    assert stdout(msgs) == "[rank 0]\nstep 19 on rank 0\n[ranks 1-3]\nstep 19\n"
    # the live lines go (one clear that waits for the next output), then the settled output
    assert [m["msg_type"] for m in msgs][0] == "clear_output" and of(msgs, "clear_output") == [{"wait": True}]


def test_clear_output_removes_earlier_displays_and_text(kernel):
    code = (
        "from IPython.display import clear_output, display, HTML\n"
        "print('gone'); display(HTML('<i>gone</i>'))\n"
        "clear_output()\n"
        "print('kept')\n"
    )
    _, msgs = kernel.run(code)
    assert stdout(msgs) == "[ranks 0-3]\nkept\n"
    assert user_displays(msgs) == []


def test_progress_on_one_display_id_is_one_output(kernel):
    code = (
        "from IPython.display import display\n"
        "h = display('0%', display_id=True) if rank == 0 else None\n"
        "for i in range(1, 51):\n"
        "    if rank == 0: h.update(f'{2 * i}%')\n"
    )
    _, msgs = kernel.run(code)
    (shown,) = user_displays(msgs)
    assert shown["data"]["text/plain"] == "'100%'"
    assert shown["transient"]["display_id"]
    assert not of(msgs, "update_display_data")
    # a later cell updates that display in place
    _, later = kernel.run("if rank == 0: h.update('done')")
    (upd,) = of(later, "update_display_data")
    assert upd["data"]["text/plain"] == "'done'"
    assert upd["transient"]["display_id"] == shown["transient"]["display_id"]


def test_transient_display_id_of_identical_displays_collapses(kernel):
    _, msgs = kernel.run("from IPython.display import display, Markdown\n"
                         "display(Markdown('**same**'), display_id='fixed-id')")
    (shown,) = user_displays(msgs)
    assert shown["data"]["text/markdown"] == "**same**"
    assert shown["transient"] == {"display_id": "fixed-id"}


def test_rich_types_per_rank_and_collapsed(kernel):
    code = (
        "from IPython.display import display, Markdown, HTML, JSON, Latex\n"
        "display(Markdown('# title'), HTML('<b>x</b>'), Latex(r'$x^2$'))\n"
        "display(JSON({'rank': rank}))\n"
    )
    _, msgs = kernel.run(code)
    shown = user_displays(msgs)
    mimes = [next(k for k in c["data"] if k != "text/plain") for c in shown]
    # every rank's sequence differs (the JSON), so each rank shows its four displays
    assert mimes == ["text/markdown", "text/html", "text/latex", "application/json"] * 4
    assert [c["data"]["application/json"] for c in shown if "application/json" in c["data"]] == [
        {"rank": r} for r in range(4)]


def test_matplotlib_inline_one_figure_per_rank(kernel):
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([0, rank]); plt.title(f'rank {rank}'); plt.show()\n"
    )
    content, msgs = kernel.run(code, timeout=120)
    assert content["status"] == "ok", content
    pngs = [c for c in user_displays(msgs) if "image/png" in c["data"]]
    assert len(pngs) == 4 and len({c["data"]["image/png"] for c in pngs}) == 4


# ------------------------------------------------------------------------------------- while live


def live_messages(kernel, code):
    """Every iopub message of one cell, in order (status and execute_input left out)."""
    content, msgs = kernel.run(code, timeout=120)
    assert content["status"] == "ok", content
    return msgs


def test_a_live_progress_display_is_one_output_updated_in_place(kernel):
    code = (
        "import time\n"
        "from IPython.display import display\n"
        "h = display('step 0', display_id=True) if rank == 0 else None\n"
        "for i in range(1, 13):\n"
        "    time.sleep(0.2)\n"
        "    if rank == 0: h.update(f'step {i}')\n"
    )
    msgs = live_messages(kernel, code)
    rank_live = [m for m in msgs if m["msg_type"] in ("display_data", "update_display_data")
                 and "step" in m["content"]["data"].get("text/plain", "")]
    created = [m for m in rank_live if m["msg_type"] == "display_data"]
    updated = [m for m in rank_live if m["msg_type"] == "update_display_data"]
    ids = {m["content"]["transient"]["display_id"] for m in rank_live}
    # while it ran: one live output, updated in place; at the end: the settled display, once
    assert len(created) == 2 and created[-1]["content"]["data"]["text/plain"] == "'step 12'"
    assert len(updated) >= 3 and len(ids) == 2
    live_id = created[0]["content"]["transient"]["display_id"]
    assert all(m["content"]["transient"]["display_id"] == live_id for m in updated)
    assert [m["content"]["data"] for m in msgs if m["msg_type"] == "update_display_data"
            and m["content"]["transient"]["display_id"] == live_id][-1] == {"text/plain": ""}  # emptied


def test_a_live_clear_and_display_loop_reuses_one_output(kernel):
    code = (
        "import time\n"
        "from IPython.display import display, clear_output, HTML\n"
        "for i in range(12):\n"
        "    time.sleep(0.2)\n"
        "    if rank == 0:\n"
        "        clear_output(wait=True)\n"
        "        display(HTML(f'<b>{i}</b>'))\n"
    )
    msgs = live_messages(kernel, code)
    created = [m for m in msgs if m["msg_type"] == "display_data" and "text/html" in m["content"]["data"]
               and "<b>" in m["content"]["data"]["text/html"]]
    assert len(created) == 2, [m["content"]["data"] for m in created]  # the live one, the settled one
    assert created[-1]["content"]["data"]["text/html"] == "<b>11</b>"


def test_tqdm_auto_on_rank0_is_a_live_notebook_progress_bar(kernel):
    """tqdm.auto picks its notebook bar on the ranks (they are IPython kernels); the widget's comm
    goes through rank 0's engine to the front end, and its view shows while the loop runs."""
    pytest.importorskip("ipywidgets")
    code = (
        "import time\n"
        "from tqdm.auto import tqdm\n"
        "if rank == 0:\n"
        "    for i in tqdm(range(12)):\n"
        "        time.sleep(0.15)\n"
    )
    msgs = live_messages(kernel, code)
    kinds = [m["msg_type"] for m in msgs]
    models = {m["content"]["data"]["state"]["_model_name"] for m in msgs if m["msg_type"] == "comm_open"}
    assert "FloatProgressModel" in models
    views = [i for i, m in enumerate(msgs) if m["msg_type"] == "display_data"
             and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    values = [m["content"]["data"]["state"]["value"] for m in msgs if m["msg_type"] == "comm_msg"
              and isinstance(m["content"]["data"].get("state", {}).get("value"), float)]
    assert values[-1] == 12.0 and len(values) >= 12
    last_step = max(i for i, m in enumerate(msgs) if m["msg_type"] == "comm_msg")
    assert len(views) == 2 and views[0] < last_step < views[1], kinds  # live while it ran, then settled
    assert (msgs[views[1]]["content"].get("metadata") or {}).get("mpikernel") is None


def test_a_widget_on_rank0_receives_the_front_ends_changes(kernel):
    """What JupyterLab does when a slider made on rank 0 is moved: a comm_msg with the new state
    to the kernel, which ipyparallel relays to rank 0's engine; rank 0's slider then has it."""
    pytest.importorskip("ipywidgets")
    _, msgs = kernel.run("import ipywidgets as widgets\n"
                         "slider = widgets.IntSlider(3) if rank == 0 else None\n"
                         "seen = []\n"
                         "if rank == 0: slider.observe(lambda ch: seen.append(ch['new']), names='value')\n"
                         "slider")
    (opened,) = [m["content"] for m in msgs if m["msg_type"] == "comm_open"
                 and m["content"]["data"]["state"]["_model_name"] == "IntSliderModel"]
    (view,) = [c for c in of(msgs, "execute_result")]
    assert view["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == opened["comm_id"]
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": opened["comm_id"],
                                             "data": {"method": "update", "state": {"value": 7}, "buffer_paths": []}})
    kernel.kc.shell_channel.send(msg)
    import time

    until = time.monotonic() + 20
    while time.monotonic() < until:
        _, msgs = kernel.run("(slider.value, seen) if rank == 0 else None")
        text = of(msgs, "execute_result")[0]["data"]["text/plain"]
        if "7" in text:
            break
        time.sleep(0.2)
    assert text == "(7, [7])"
