"""The MPI kernel in JupyterLab in a real browser (Debian's chromium, driven by playwright), as a
student meets it: a notebook made from the launcher's "MPI (4 ranks)" card, then

- `print(rank)` shows four labelled outputs, an identical print collapses under [ranks 0-3];
- a matplotlib plot made on rank 0 appears as an image;
- an exception on rank 1 is shown once, labelled, with the line the student wrote;
- a barrier that can never complete is stopped with the toolbar's interrupt button, and the next
  cell's allreduce is right;
- Tab after `comm.` offers `allreduce`;
- a cell longer than a second shows the live rank view (one output, updated in place, replaced by
  the merged output at the end);
- and shutting JupyterLab down leaves no process behind (kernel, controller, mpiexec, ranks).

Screenshots of these states, in JupyterLab's light and dark themes, are written to
$MPIKERNEL_SCREENSHOTS (default: the test's tmp dir); docs/screenshots/ holds a copy.

Skips, saying why, when chromium, playwright or jupyterlab is missing: the default
`python -m pytest` on a fresh machine has no chromium; .ci/legs/browser.sh installs it and runs
`python -m pytest -m browser` with MPIKERNEL_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from browser_helpers import JupyterLab, Notebook, chromium, why_no_browser
from require import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.mpi, pytest.mark.slow, pytest.mark.timeout(420)]

KERNEL = "MPI (4 ranks)"
PLOT = """\
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 2 * np.pi, 200)
parts = comm.gather(np.sin(x + rank * np.pi / 2), root=0)
if rank == 0:
    fig, ax = plt.subplots(figsize=(6, 2.6))
    for r, y in enumerate(parts):
        ax.plot(x, y, label=f"rank {r}")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("gathered on rank 0")
    plt.show()
"""
ERROR = """\
values = [10, 20, 30, 40]
if rank == 1:
    values = values[rank] / (rank - 1)   # the bug: divides by zero on rank 1
print("the other ranks got here")
"""
SLIDER = """\
import ipywidgets as widgets
seen = []
if rank == 0:
    slider = widgets.IntSlider(value=3, min=0, max=10, description="n on rank 0")
    slider.observe(lambda change: seen.append(change["new"]), names="value")
    display(slider)
"""
PROGRESS = """\
import time
from tqdm.auto import tqdm
for i in tqdm(range(20), disable=rank != 0, desc="rank 0"):
    time.sleep(0.1)
"""
RANK_VIEW = """\
import time
if rank == 0:
    time.sleep(5)   # rank 0 works; rank 3 waits for its message, ranks 1-2 in the barrier
    comm.send("go", dest=3)
if rank == 3:
    comm.recv(source=0)
comm.barrier()
print("all ranks passed the barrier")
"""
DEFINE = """\
def spread(v):
    w = v * 10
    return w
x = rank * 10   # no blank line: the editor's text would not read back as typed
"""
HANG = """\
if rank > 0:
    comm.barrier()   # rank 0 never joins: ranks 1-3 wait forever
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    path = Path(os.environ.get("MPIKERNEL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def lab_and_page(tmp_path_factory):
    reason = why_no_browser()
    if reason:
        skip_or_fail(f"browser test skipped: {reason}", "MPIKERNEL_REQUIRE_BROWSER")
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("lab")
    lab = JupyterLab(tmp)
    try:
        with sync_playwright() as pw:
            context = chromium(pw, tmp / "chromium-profile", viewport=(1280, 1500))
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60000)
                yield lab, page
            finally:
                context.close()
        lab.stop()  # the last test checks what it leaves; here it only makes sure
    finally:
        lab.kill()


@pytest.fixture(scope="module")
def notebook(lab_and_page):
    """A new notebook on the MPI kernel, made by clicking the launcher's card."""
    from playwright.sync_api import expect

    lab, page = lab_and_page
    t0 = time.monotonic()
    page.goto(f"{lab.url}/lab?token={lab.token}")
    card = page.locator(f'.jp-LauncherCard[data-category="Notebook"][title="{KERNEL}"]')
    card.wait_for(timeout=90000)
    card.click()
    nb = Notebook(page, lab)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell .cm-content", timeout=60000)
    kernel_name = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName").first
    expect(kernel_name).to_contain_text(KERNEL, timeout=60000)  # "No Kernel" until it started
    nb.wait_kernel_idle()
    nb.opened_in = time.monotonic() - t0
    return nb


# ------------------------------------------------------------------- the README's one command

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_lab_command() -> tuple[str, list[str]]:
    """(the install half, jupyter lab's arguments) of the README's one command for the course."""
    import shlex

    (line,) = [ln.strip() for ln in README.read_text().splitlines() if "&& jupyter lab " in ln]
    install, lab = (part.strip() for part in line.split("&&"))
    words = shlex.split(lab)
    assert words[:2] == ["jupyter", "lab"], line
    return install, words[2:]


def test_the_readme_command_installs_the_lab_extra_and_opens_notebook_01_on_the_mpi_kernel(tmp_path):
    """First in the file: playwright's sync API cannot start while the module's browser (the
    fixtures of the tests below) is open, and that one stays open until the last test.

    The README's `pip install -e ".[lab]" && jupyter lab notebooks/01-hello-ranks.ipynb`: the
    extra names JupyterLab and ipywidgets, and JupyterLab started with those arguments (plus this
    test's own server flags) opens the notebook with "MPI (4 ranks)" selected, and it runs."""
    import shutil
    import tomllib

    install, args = readme_lab_command()
    assert install == 'python -m pip install -e ".[lab]"'
    extra = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    assert {re.split(r"[<>=!~ ]", e)[0] for e in extra} >= {"jupyterlab", "ipywidgets"}
    assert args == ["notebooks/01-hello-ranks.ipynb"], args
    reason = why_no_browser()
    if reason:
        skip_or_fail(f"browser test skipped: {reason}", "MPIKERNEL_REQUIRE_BROWSER")
    from playwright.sync_api import expect, sync_playwright

    (tmp_path / "root" / "notebooks").mkdir(parents=True)
    shutil.copy(README.parent / args[0], tmp_path / "root" / args[0])  # a copy: the test saves nothing here
    lab = JupyterLab(tmp_path, args=tuple(args))
    try:
        with sync_playwright() as pw:
            context = chromium(pw, tmp_path / "chromium-profile")
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60000)
                page.goto(f"{lab.url}/lab/tree/{args[0]}?token={lab.token}")  # where `jupyter lab FILE` points the browser
                kernel_name = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName").first
                expect(kernel_name).to_contain_text(KERNEL, timeout=90000)
                nb = Notebook(page, lab)
                first = nb.cells().filter(has_text="Hello from rank").first
                first.locator(".cm-content").click()
                page.keyboard.press("Shift+Enter")
                nb.wait_done(first, timeout=180)
                assert nb.headers(first) == ["[rank 0]", "[rank 1]", "[rank 2]", "[rank 3]"]
                assert nb.streams(first) == [f"Hello from rank {r} of 4" for r in range(4)]
            finally:
                context.close()
        assert lab.stop() == {}
    finally:
        lab.kill()


def _ranks_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_print_rank_shows_four_labelled_outputs(notebook, shots):
    t0 = time.monotonic()
    cell = notebook.run("print(rank)", timeout=180)  # the first cell also waits for the ranks
    print(f"\nlab opened in {notebook.opened_in:.1f} s; first cell (ranks starting) {time.monotonic() - t0:.1f} s")
    assert notebook.headers(cell) == ["[rank 0]", "[rank 1]", "[rank 2]", "[rank 3]"]
    text = notebook.output_text(cell)
    assert _ranks_text(text).endswith("[rank 0] 0 [rank 1] 1 [rank 2] 2 [rank 3] 3"), text
    # the labels are drawn, not printed: each rank's text is a stream of its own under its label
    assert notebook.streams(cell) == ["0", "1", "2", "3"]
    notebook.first_cell = cell


def test_identical_output_collapses(notebook):
    cell = notebook.run('print("hello from every rank")')
    assert notebook.headers(cell) == ["[ranks 0-3]"]
    assert notebook.output_text(cell).count("hello from every rank") == 1


def test_plot_from_rank_0_is_an_image(notebook, shots):
    cell = notebook.run(PLOT, timeout=120)
    assert notebook.headers(cell) == ["[rank 0]"]
    img = cell.locator(".jp-OutputArea-output img")
    img.wait_for()
    assert img.count() == 1
    src = img.get_attribute("src")
    assert src.startswith("data:image/png")
    size = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert size[0] > 300 and size[1] > 100, size
    notebook.plot_cell = cell
    notebook.screenshot_cells([notebook.first_cell, cell], shots / "notebook-light.png")


def test_exception_on_rank_1_shown_once_with_the_users_line(notebook, shots):
    cell = notebook.run(ERROR)
    err = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    err.first.wait_for()
    tb = "\n".join(err.all_inner_texts())
    assert len(re.findall(r"^\[rank 1\] ZeroDivisionError", tb, re.M)) == 1, tb
    assert "[rank 0]" not in tb and "[rank 2]" not in tb, tb
    assert "values = values[rank] / (rank - 1)" in tb, tb
    # the other ranks' output is still there, labelled
    assert notebook.headers(cell) == ["[ranks 0,2-3]"]
    assert notebook.streams(cell) == ["the other ranks got here"]
    notebook.error_cell = cell
    notebook.screenshot_cells([cell], shots / "error-light.png")


def test_interrupt_button_stops_a_hung_barrier_and_the_next_cell_works(notebook, shots):
    cell = notebook.start(HANG)
    notebook.wait_running(cell)
    time.sleep(2.0)  # well inside the barrier
    notebook.lab.record_processes()
    assert "*" in notebook.prompt(cell), "the hung barrier finished on its own"
    button = notebook.page.locator(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar [data-command="notebook:interrupt-kernel"]')
    t0 = time.monotonic()
    button.first.click()
    notebook.wait_done(cell, timeout=60)
    stopped_in = time.monotonic() - t0
    text = notebook.output_text(cell)
    assert "KeyboardInterrupt" in text or "RanksInterrupted" in text, text
    assert "comm.barrier" in text, text  # where the ranks were waiting
    t1 = time.monotonic()
    nxt = notebook.run("comm.allreduce(rank + 1)", timeout=60)
    next_in = time.monotonic() - t1
    print(f"\ninterrupt button to finished cell {stopped_in:.1f} s; next allreduce cell {next_in:.1f} s")
    assert notebook.headers(nxt) == ["[ranks 0-3]"]
    assert _ranks_text(notebook.output_text(nxt)).endswith("10"), notebook.output_text(nxt)
    notebook.interrupt_cells = [cell, nxt]
    notebook.screenshot_cells([cell, nxt], shots / "interrupt-light.png")


def test_tab_after_comm_offers_allreduce(notebook, shots):
    cell = notebook.type_into_last_cell("comm.")
    notebook.page.keyboard.press("Tab")
    completer = notebook.page.locator(".jp-Completer")
    try:
        completer.wait_for(state="visible", timeout=30000)
    except Exception:
        notebook.page.screenshot(path=str(shots / "completion-failed.png"))
        raise AssertionError(f"no completion list after Tab; the cell holds "
                             f"{cell.locator('.cm-content').inner_text()!r}\n{notebook.lab.log_text()}")
    item = completer.locator('.jp-Completer-item[data-value="allreduce"]')
    item.wait_for(timeout=30000)
    took = notebook.round_trip("complete_request", "complete_reply")
    print(f"\ncompletion of comm. answered in {took:.2f} s (JupyterLab's default limit is 1 s)")
    assert item.count() == 1
    notebook.page.screenshot(path=str(shots / "completion-light.png"))
    notebook.page.keyboard.press("Escape")


def test_a_slider_on_rank_0_moved_in_the_page_changes_the_value_on_rank_0(notebook, shots):
    cell = notebook.run(SLIDER, timeout=90)
    handle = cell.locator(".widget-slider .noUi-handle")
    handle.wait_for(timeout=30000)
    assert notebook.headers(cell) == ["[rank 0]"]
    handle.focus()
    for _ in range(2):
        notebook.page.keyboard.press("ArrowRight")  # as a person nudges it: one step each
    readout = cell.locator(".widget-readout")
    from playwright.sync_api import expect

    expect(readout).to_have_text("5", timeout=10000)
    after = notebook.run("(slider.value, seen) if rank == 0 else None")
    assert _ranks_text(notebook.output_text(after)).endswith("(5, [4, 5])"), notebook.output_text(after)
    notebook.screenshot_cells([cell, after], shots / "widget-light.png")


def test_tqdm_auto_on_rank_0_is_a_notebook_progress_bar(notebook, shots):
    cell = notebook.start(PROGRESS)
    bar = cell.locator(".widget-hprogress, .widget-progress")
    bar.first.wait_for(timeout=30000)  # shown while the loop runs
    assert "*" in notebook.prompt(cell), "the bar appeared only after the cell ended"
    notebook.wait_done(cell, timeout=60)
    text = _ranks_text(notebook.output_text(cell))
    assert "20/20" in text and "100%" in text, text
    assert cell.locator(".widget-hprogress, .widget-progress").count() == 1  # one bar, not one per step
    notebook.screenshot_cells([cell], shots / "progress-light.png")


def test_rank_view_is_one_live_strip_replaced_by_the_merged_output(notebook, shots):
    """A cell longer than 1 s shows every rank's state in ONE output updated in place (rank 0
    running its line, rank 3 in recv, ranks 1-2 in the barrier); the merged output replaces it."""
    cell = notebook.start(RANK_VIEW)
    view = cell.locator(".mpikernel-rank-view")
    view.wait_for(timeout=30000)
    assert "*" in notebook.prompt(cell), "the rank view appeared only after the cell ended"
    until = time.monotonic() + 20
    states = {}
    while time.monotonic() < until:  # the ranks reach their calls, the strip follows in place
        states = {int(r): s for r, s in cell.locator(".mpikernel-rank-view [data-rank]").evaluate_all(
            "els => els.map(e => [e.dataset.rank, e.dataset.state])")}
        if states == {0: "running", 1: "waiting", 2: "waiting", 3: "waiting"}:
            break
        time.sleep(0.2)
    assert states == {0: "running", 1: "waiting", 2: "waiting", 3: "waiting"}, states
    titles = cell.locator(".mpikernel-rank-view [data-rank]").evaluate_all("els => els.map(e => e.title)")
    assert "recv" in titles[3].lower() and "barrier" in titles[1].lower(), titles
    assert cell.locator(".jp-OutputArea-output").count() == 1, "the view was appended to, not updated"
    caption = cell.locator(".mpikernel-rank-view").inner_text()
    notebook.screenshot_cells([cell], shots / "rank-view-light.png")
    time.sleep(1.5)
    assert cell.locator(".mpikernel-rank-view").inner_text() != caption, "the strip was not updated"
    assert cell.locator(".jp-OutputArea-output").count() == 1
    notebook.wait_done(cell, timeout=60)
    assert cell.locator(".mpikernel-rank-view").count() == 0, "the strip stayed after the cell ended"
    assert notebook.headers(cell) == ["[ranks 0-3]"]
    assert notebook.streams(cell) == ["all ranks passed the barrier"]
    notebook.rank_view_cell = cell


def test_debugger_panel_shows_every_rank_and_a_breakpoint_stops_them_all(notebook, shots):
    """The toolbar's bug switches JupyterLab's debugger on: its Variables list the ranks' values
    ([rank 0] 0 | [rank 1] 10 ...); a breakpoint in a function of an earlier cell stops all four
    ranks (four threads "rank N"), the panel shows the first-stopped rank's frame and a 'Locals, all ranks' scope."""
    page = notebook.page
    define = notebook.run(DEFINE)
    bug = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-DebuggerBugButton").first
    bug.click()
    notebook.command("debugger:show-panel")
    variables = page.locator(".jp-DebuggerVariables")

    def shown(locator, what, timeout=60000, state="visible"):
        try:
            locator.first.wait_for(timeout=timeout, state=state)
        except Exception:
            page.screenshot(path=str(shots / "debugger-failed.png"))
            raise AssertionError(f"the debugger panel never showed {what}:\n{notebook.lab.log_text()}") from None

    shown(variables.get_by_text("[rank 0] 0 | [rank 1] 10 | [rank 2] 20 | [rank 3] 30"), "x per rank")
    page.screenshot(path=str(shots / "debugger-variables-light.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 640})

    gutter = define.locator("div.cm-gutter.cm-breakpoint-gutter").bounding_box()
    line = define.locator(".cm-line").nth(1).bounding_box()  # `w = v * 10`
    page.mouse.click(gutter["x"] + gutter["width"] / 2, line["y"] + line["height"] / 2)
    page.locator(".jp-DebuggerBreakpoint").first.wait_for(timeout=30000)
    cell = notebook.start("r = spread(rank)")
    shown(page.locator(".jp-DebuggerCallstackFrame-name", has_text="spread"), "the frame of spread")
    scopes = page.locator(".jp-DebuggerSidebar select").first  # the panel shows one scope at a time
    shown(scopes.locator("option", has_text="Locals, all ranks"), "the Locals, all ranks scope",
          state="attached")  # an <option> is never "visible"
    scopes.select_option(label="Locals, all ranks")  # each rank's v, beside rank 0's frame
    every_v = variables.get_by_text("[rank 0] 0 | [rank 1] 1 | [rank 2] 2 | [rank 3] 3")
    shown(every_v, "v per rank")
    every_v.first.click()  # opens into one row per rank
    shown(variables.get_by_text("rank 3", exact=False).last, "rank 3's own row of v")
    page.screenshot(path=str(shots / "debugger-breakpoint-light.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 640})
    assert "*" in notebook.prompt(cell), "the cell ran past the breakpoint"
    notebook.command("debugger:continue")
    notebook.wait_done(cell, timeout=60)
    bug.click()  # the debugger off again: the cells after this one run as before
    after = notebook.run("r")
    assert _ranks_text(notebook.output_text(after)).endswith("[rank 0] 0 [rank 1] 10 [rank 2] 20 [rank 3] 30"), \
        notebook.output_text(after)


def test_dark_theme_screenshots(notebook, shots):
    notebook.set_theme("JupyterLab Dark")
    background = notebook.page.evaluate(
        "getComputedStyle(document.querySelector('.mpikernel-header span')).backgroundColor")
    assert background != "rgba(0, 0, 0, 0)"
    notebook.screenshot_cells([notebook.first_cell, notebook.plot_cell], shots / "notebook-dark.png")
    notebook.screenshot_cells([notebook.error_cell], shots / "error-dark.png")
    notebook.screenshot_cells(notebook.interrupt_cells, shots / "interrupt-dark.png")
    notebook.set_theme("JupyterLab Light")


def test_shutdown_leaves_no_process(lab_and_page, notebook):
    """Last: shutting JupyterLab down ends the kernel, the controller, mpiexec and the ranks."""
    lab, page = lab_and_page
    lab.record_processes()
    assert len(lab.seen) >= 4 + 3, lab.seen  # kernel + controller + mpiexec (+ proxy) + 4 ranks
    page.close()
    survivors = lab.stop()
    assert survivors == {}, f"left running after JupyterLab shut down: {survivors}"
