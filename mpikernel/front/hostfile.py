"""Reading a hostfile strictly: MPICH's `host[:n]` and Open MPI's `host [slots=n] [max_slots=n]`.

%mpi_start checks a hostfile before it starts anything, so a typo is a sentence naming its line,
not an mpiexec failure half a minute later.
"""

from __future__ import annotations

import re
from pathlib import Path

from IPython.core.error import UsageError

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_HOSTFILE_KEYS = ("slots", "max_slots", "max-slots")  # Open MPI's; MPICH writes host:n


def _count(text, path, lineno, what):
    if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) < 1:
        raise UsageError(f"the hostfile {path}, line {lineno}: {what} must be a whole number, "
                         f"1 or more (got {text!r})")
    return int(text)


def _read_text(path) -> str:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"the hostfile {path} does not exist")
    try:
        return p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"the hostfile {path} cannot be read ({e})") from None


def _line_slots(words, path, lineno) -> tuple[str, int]:
    """(host, slots) of one hostfile line split into words."""
    host, colon, count = words[0].partition(":")
    if not _HOST.fullmatch(host):
        raise UsageError(f"the hostfile {path}, line {lineno}: {words[0]!r} is not a host name")
    slots = _count(count, path, lineno, "the count after ':'") if colon else None
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq or key not in _HOSTFILE_KEYS:
            raise UsageError(f"the hostfile {path}, line {lineno}: unknown {word!r} (a line is "
                             "host, host:n, or host slots=n [max_slots=n])")
        n = _count(value, path, lineno, key)
        if key == "slots":
            if slots is not None:
                raise UsageError(f"the hostfile {path}, line {lineno}: slots given twice")
            slots = n
    return host, 1 if slots is None else slots


def read_hostfile(path) -> dict[str, int]:
    """{host: slots} of a hostfile; # comments; any other word is an error naming its line."""
    hosts: dict[str, int] = {}
    for lineno, raw in enumerate(_read_text(path).splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if words:
            host, slots = _line_slots(words, path, lineno)
            hosts[host] = hosts.get(host, 0) + slots
    if not hosts:
        raise UsageError(f"the hostfile {path} names no hosts (it is empty or only comments)")
    return hosts


def hostfile_slots(path) -> int:
    """Ranks a hostfile allows (the sum of its slots)."""
    return sum(read_hostfile(path).values())


def is_this_machine(host: str) -> bool:
    import socket

    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn(),
             socket.gethostname().split(".")[0]}
    return host in names


def check_hostfile(path, n: int) -> None:
    """UsageError unless the hostfile names only this machine and has slots for n ranks."""
    others = [h for h in read_hostfile(path) if not is_this_machine(h)]
    if others:
        raise UsageError(
            f"the hostfile {path} names other machines ({', '.join(others)}); ranks on other "
            "machines are not supported yet (the controller listens on this machine only)"
        )
    slots = hostfile_slots(path)
    if n > slots:
        raise UsageError(f"the hostfile {path} allows {slots} rank{'s' if slots != 1 else ''}, not {n}; "
                         f"ask for fewer ranks (-n {slots}) or add slots to the hostfile")
