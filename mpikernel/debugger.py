"""Debugging a rank: `%mpi_debug RANK`, a post-mortem pdb on the traceback of the rank that failed.

A rank has no terminal and no stdin, so IPython's `%debug` cannot run there. Instead each rank
keeps a pdb session on its last traceback (`sys.last_traceback`, which IPython sets when a cell
raises) and is driven one command at a time through ipyparallel's apply: the owner reads a
command (from the person, or from `-c` options), the rank runs it with `Pdb.onecmd` and sends back
what pdb printed. `q` (or EOF) ends the session; `c`/`n`/`s` end it too, since
the failed frame cannot run on.

    %mpi_debug 1                 interactive: (Pdb rank 1) prompts until q
    %mpi_debug 1 -c "p x" -c w   run these commands and stop (scripts, tests, notebooks)
    %mpi_debug                   the lowest rank that has a traceback

JupyterLab's visual debugger (DAP over debug_request) on the ranks is not implemented yet: the
kernel advertises "debugger": false (see docs/diagnostics.md).
"""

from __future__ import annotations

import io
import pdb
import shlex
import sys

_SESSION = None  # this rank's PostMortem while one is open


class PostMortem:
    """pdb on one traceback, one command at a time, its output captured."""

    def __init__(self, tb):
        self.out = io.StringIO()
        self.pdb = pdb.Pdb(stdin=io.StringIO(), stdout=self.out, nosigint=True)
        self.pdb.reset()
        self.pdb.setup(None, tb)
        self.pdb.print_stack_entry(self.pdb.stack[self.pdb.curindex])

    def take_output(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text

    def command(self, line: str) -> bool:
        """Run one pdb command; True when the session is over."""
        line = self.pdb.precmd(line)
        return bool(self.pdb.onecmd(line))


def has_traceback() -> bool:
    """Runs on a rank: did a cell fail here (is there something to debug)?"""
    return getattr(sys, "last_traceback", None) is not None


def postmortem(command: str | None) -> tuple[str, bool]:
    """Runs on a rank: None opens a session on the last traceback, a string is a pdb command.

    Returns (what pdb printed, whether the session is over).
    """
    global _SESSION
    if command is None:
        tb = getattr(sys, "last_traceback", None)
        if tb is None:
            return "no cell has failed on this rank: nothing to debug", True
        _SESSION = PostMortem(tb)
        return _SESSION.take_output(), False
    if _SESSION is None:
        return "no debugging session is open on this rank", True
    try:
        done = _SESSION.command(command)
    except Exception as exc:  # pdb reports most errors itself; anything else ends the session
        done = True
        _SESSION.out.write(f"*** {type(exc).__name__}: {exc}\n")
    text = _SESSION.take_output()
    if done:
        _SESSION = None
    return text, done


def parse_debug_line(line: str, size: int) -> tuple[int | None, list[str] | None]:
    """'%mpi_debug 1 -c "p x" -c w' -> (1, ['p x', 'w']); ValueError with a sentence when wrong."""
    words = shlex.split(line or "")
    rank, commands = None, None
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("-c", "--command"):
            if i + 1 >= len(words):
                raise ValueError(f"{w} needs a pdb command after it, like -c \"p x\"")
            commands = (commands or []) + [words[i + 1]]
            i += 2
            continue
        if rank is not None or not w.isdigit():
            raise ValueError(f"unexpected {w!r}: write %mpi_debug RANK [-c COMMAND ...]")
        rank = int(w)
        if rank >= size:
            raise ValueError(f"rank {rank} does not exist: this world has {size} ranks (0-{size - 1})")
        i += 1
    return rank, commands


def debug_rank(world, line: str, ask=input, show=print) -> None:
    """%mpi_debug: pick the rank, open pdb there, relay commands until the session ends."""
    rank, commands = parse_debug_line(line, world.n)
    if rank is None:
        has = world.view().apply_sync(has_traceback)
        failed = [r for r, yes in enumerate(has) if yes]
        if not failed:
            raise ValueError("no cell has failed on any rank: nothing to debug")
        rank = failed[0]
    view = world.view([rank])
    text, done = view.apply_sync(postmortem, None)[0]
    show(f"[rank {rank}] post-mortem debugger; pdb commands, q to quit")
    show(text.rstrip("\n"))
    script = list(commands) if commands is not None else None
    while not done:
        if script is not None:
            cmd = script.pop(0) if script else "q"
        else:
            try:
                cmd = ask(f"(Pdb rank {rank}) ")
            except (EOFError, KeyboardInterrupt):
                cmd = "q"
        text, done = view.apply_sync(postmortem, cmd)[0]
        if script is not None:
            show(f"(Pdb rank {rank}) {cmd}")
        if text.strip():
            show(text.rstrip("\n"))
