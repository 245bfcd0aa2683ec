"""JupyterLab in Chromium for tests/course/test_browser.py: start, drive, and clean up without leftovers.

- `why_no_browser()` says why the browser test cannot run here (no chromium, no playwright,
  no jupyterlab), or None.
- `JupyterLab(tmp)` runs `jupyter lab` on 127.0.0.1 with a random token, in its own session and
  with its own config/data/runtime directories under `tmp`, seeing the kernel spec shipped in
  this tree (share/jupyter) first. It records every process started under it (the kernel, the
  controller, mpiexec, the ranks) while it runs, so `stop()` can prove that a normal shutdown
  left nothing behind and kill by pid whatever did survive.
- `chromium(playwright, profile)` launches Debian's chromium headless with a fresh profile and
  without the background networking that makes it hammer a closed network.
- `Notebook(page)` runs cells the way a person does: click, type, Shift+Enter, read the page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from world_helpers import alive, kill_all, wait_all_gone

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SHARE = ROOT / "share" / "jupyter"

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def why_no_browser() -> str | None:
    """None if chromium, playwright and jupyterlab are all here; else a sentence saying what is missing."""
    if not shutil.which("chromium"):
        return "no `chromium` on PATH (Debian: apt-get install chromium; .ci/legs/browser.sh does it)"
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        try:
            __import__(module)
        except ImportError:
            return f"the Python package {package} is not installed (pip install {package})"
    return None


def chromium(playwright, profile: Path, viewport=(1280, 900)):
    """A persistent headless context of Debian's chromium on a fresh profile directory."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=shutil.which("chromium"),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": viewport[0], "height": viewport[1]},
        device_scale_factor=1,
    )


def _term_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL or a timeout.

    JupyterLab answers SIGTERM by shutting its kernels down, and the kernel stops its ranks, so a
    killed test run leaves nothing behind either (found by killing one: the server lived on).
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """One `jupyter lab` server for a test, owned by the test (see the module docstring)."""

    def __init__(self, tmp: Path, start_timeout: float = 90.0, args: tuple[str, ...] = ()):
        """`args`: what follows `jupyter lab` on a command line (a notebook to open), relative to
        tmp/root, the server's root and working directory."""
        self.tmp = Path(tmp)
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.log_path = self.tmp / "jupyterlab.log"
        self.survivors: dict[int, str] | None = None  # set by stop()
        self.seen: dict[int, str] = {}  # pid -> command line, of every process started under it
        for d in ("root", "config", "data", "runtime", "settings", "workspaces"):
            (self.tmp / d).mkdir(parents=True, exist_ok=True)
        # no "would you like news?" toast over the notebook in the screenshots
        news = self.tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false"}))
        # JupyterLab drops a completion reply slower than 1 s (its default providerTimeout). Rank 0
        # answers in 0.2-0.6 s on an idle machine but can take longer on a loaded one: the test
        # checks the answer with 10 s and prints the time it took (see docs/kernel.md)
        completer = self.tmp / "settings" / "@jupyterlab" / "completer-extension" / "manager.jupyterlab-settings"
        completer.parent.mkdir(parents=True, exist_ok=True)
        completer.write_text(json.dumps({"providerTimeout": 10000}))
        env = dict(os.environ)
        env.update(
            JUPYTER_PATH=os.pathsep.join(filter(None, [str(SHIPPED_SHARE), env.get("JUPYTER_PATH")])),
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.tmp / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"),
            PYTHONUNBUFFERED="1",
        )
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.tmp / 'root'}",
            "--LabApp.expose_app_in_browser=True",  # the test switches the theme through it
            # nothing that reaches for the network: no news, no update check, no PyPI
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.shutdown_no_activity_timeout=600",  # never outlive a lost test for long
            "--MappingKernelManager.cull_idle_timeout=600",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        cmd += list(args)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.tmp / "root", start_new_session=True,
                                     preexec_fn=_term_with_parent)
        self._wait_ready(start_timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET", timeout: float = 10.0):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def _wait_ready(self, timeout: float):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                self.api("/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_text()}")

    def log_text(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-tail:].decode(errors="replace")
        except OSError:
            return ""

    def record_processes(self) -> list[psutil.Process]:
        """Remember every process below the server now (call it while kernels and ranks run)."""
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            try:
                self.seen.setdefault(p.pid, " ".join(p.cmdline())[:160])
            except psutil.Error:
                pass
        return procs

    def stop(self, timeout: float = 30.0) -> dict[int, str]:
        """Shut the server down as a person would (kernels first); {pid: cmd} of what survived it.

        Whatever survived is killed (by pid, then the server's process group) before returning.
        A second call returns the first call's answer.
        """
        if self.survivors is not None:
            return self.survivors
        self.record_processes()
        try:
            self.api("/api/shutdown", method="POST", timeout=10)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass  # already gone, or not answering: the kill below deals with it
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        left = wait_all_gone(list(self.seen), timeout=max(1.0, timeout / 2))
        survivors = {p: self.seen[p] for p in left}
        if self.proc.poll() is None:
            survivors[self.proc.pid] = "jupyter lab"
        kill_all(left)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        wait_all_gone(left, timeout=5)
        self.log.close()
        self.survivors = survivors
        return survivors

    def kill(self):
        """Last resort in a finally: kill everything recorded and the server's group, no questions."""
        self.record_processes()
        kill_all([p for p in self.seen if alive(p)])
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if not self.log.closed:
            self.log.close()


class Notebook:
    """A notebook open in JupyterLab, driven through the page as a person does it."""

    def __init__(self, page, lab: JupyterLab):
        self.page = page
        self.lab = lab
        self.messages: list[tuple[float, str]] = []  # (time.monotonic(), msg_type) on the kernel's websocket
        page.on("websocket", self._watch)

    _MSG_TYPE = re.compile(rb'"msg_type":\s*"([a-z_]+)"')

    def _watch(self, ws):
        def seen(payload):
            data = payload.encode() if isinstance(payload, str) else payload
            m = self._MSG_TYPE.search(data)  # the first one is the message's own header
            if m:
                self.messages.append((time.monotonic(), m.group(1).decode()))

        ws.on("framesent", seen)
        ws.on("framereceived", seen)

    def round_trip(self, request: str, reply: str) -> float | None:
        """Seconds between the last `request` sent and the first `reply` after it (None if none)."""
        sent = [t for t, kind in self.messages if kind == request]
        if not sent:
            return None
        got = [t for t, kind in self.messages if kind == reply and t >= sent[-1]]
        return got[0] - sent[-1] if got else None

    # ------------------------------------------------------------------ cells
    def cells(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def last_cell(self):
        """The last cell, pinned by its index (`.last` would follow the new cell Shift+Enter adds)."""
        return self.cells().nth(self.cells().count() - 1)

    def type_into_last_cell(self, code: str):
        cell = self.last_cell()
        editor = cell.locator(".cm-content")
        for _ in range(3):
            editor.click()
            self.page.keyboard.press("Control+a")
            # insert_text: one input event, so the editor's auto-indent cannot re-indent our lines
            self.page.keyboard.insert_text(code)
            if editor.inner_text().strip() == code.strip():
                return cell
            self.page.wait_for_timeout(500)  # the editor was being re-rendered: type it again
        raise AssertionError(f"could not type into the cell; it holds {editor.inner_text()!r}")

    def wait_kernel_idle(self, timeout: float = 60.0):
        """Until the status bar says the kernel is Idle (typing while it connects can be lost)."""
        self.page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=timeout * 1000)

    def run(self, code: str, timeout: float = 90.0, record=True):
        """Type `code` into the last (empty) cell, Shift+Enter, wait until it finished; the cell."""
        n = self.cells().count()
        cell = self.type_into_last_cell(code)
        self.page.keyboard.press("Shift+Enter")
        self.wait_done(cell, timeout, record)
        self.page.wait_for_function(f"document.querySelectorAll('.jp-Notebook .jp-Cell').length > {n - 1}")
        return cell

    def start(self, code: str):
        """Type and run `code` without waiting for it to finish; the cell."""
        cell = self.type_into_last_cell(code)
        self.page.keyboard.press("Shift+Enter")
        return cell

    def prompt(self, cell) -> str:
        return cell.locator(".jp-InputArea-prompt").first.inner_text().strip()

    def wait_running(self, cell, timeout: float = 30.0):
        until = time.monotonic() + timeout
        while "*" not in self.prompt(cell):
            if time.monotonic() > until:
                raise AssertionError(f"cell never started running: prompt {self.prompt(cell)!r}")
            time.sleep(0.1)

    def wait_done(self, cell, timeout: float = 90.0, record=True):
        """Wait until the cell's prompt shows its execution count ([n]:, not [*]: or [ ]:)."""
        until = time.monotonic() + timeout
        while True:
            if record:
                self.lab.record_processes()
            text = self.prompt(cell)
            if any(ch.isdigit() for ch in text) and "*" not in text:
                return
            if time.monotonic() > until:
                raise AssertionError(f"cell did not finish in {timeout:.0f} s (prompt {text!r}):\n"
                                     f"{self.lab.log_text()}")
            time.sleep(0.2)

    def output_text(self, cell) -> str:
        return cell.locator(".jp-Cell-outputArea").inner_text()

    def streams(self, cell, name="stdout") -> list[str]:
        """The texts of a cell's stdout (or stderr) outputs, in order, without the final newline."""
        outputs = cell.locator(f'.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.{name}"]')
        return [t.removesuffix("\n") for t in outputs.all_inner_texts()]

    def headers(self, cell) -> list[str]:
        """The rank labels shown in a cell's output, in order."""
        return [t.strip() for t in cell.locator(".mpikernel-header").all_inner_texts()]

    # ------------------------------------------------------------------ the app
    def command(self, name: str, args: dict | None = None):
        """Run a JupyterLab command (the server exposes the app to the page for the test)."""
        self.page.evaluate("([n, a]) => window.jupyterapp.commands.execute(n, a)", [name, args or {}])

    def set_theme(self, theme: str):
        self.command("apputils:change-theme", {"theme": theme})
        self.page.wait_for_selector(f'body[data-jp-theme-name="{theme}"]', state="attached", timeout=30000)
        self.page.wait_for_timeout(700)  # the theme's CSS transitions

    def screenshot_cells(self, cells, path: Path):
        """One picture of consecutive cells (first to last), cropped to them (they must fit the window)."""
        cells[0].evaluate("e => e.scrollIntoView({block: 'start'})")
        self.page.wait_for_timeout(300)
        first, last = cells[0].bounding_box(), cells[-1].bounding_box()
        pad = 6
        view = self.page.viewport_size
        x, y = max(0, first["x"] - pad), max(0, first["y"] - pad)
        width = min(max(first["width"], last["width"]) + 2 * pad, view["width"] - x)
        height = min(last["y"] + last["height"] + pad - y, view["height"] - y)
        self.page.screenshot(path=str(path), clip={"x": x, "y": y, "width": width, "height": height})
