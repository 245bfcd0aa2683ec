"""Output limits: a cell that prints 100 MB on every rank must not drown the notebook or the owner.

Each rank's stdout and stderr are ipykernel `OutStream`s; the engine is started with
`LimitedOutStream` instead (`--IPEngine.out_stream_factory`). It counts the characters written
for the current cell (a cell = one parent message) and, once past the limit, keeps only a note and
drops the rest *on the rank* — nothing beyond the limit is sent over zmq, held by ipyparallel's
client in the owner, merged, or shown. So memory stays bounded by about ranks x limit, and a
cell that prints forever runs at the speed of a dropped write.

The limit is per rank, per stream, per cell: `MPIKERNEL_OUTPUT_LIMIT` in the ranks' environment
(`%mpi_start --output-limit 10MB` sets it; the owner's environment is inherited), default 1 MB.
0 means no limit.
"""

from __future__ import annotations

import os
import re

from ipykernel.iostream import OutStream

from mpikernel.notation import format_bytes

ENV = "MPIKERNEL_OUTPUT_LIMIT"
DEFAULT = 1_000_000  # characters per rank, per stream, per cell
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text) -> int:
    """'1000', '10MB', '512k', '1.5 MiB', 'none' -> characters (0 = no limit); ValueError if unclear."""
    s = str(text).strip().lower()
    if s in ("0", "none", "off", "unlimited"):
        return 0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?i?b?)", s)
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size: write it like 1000000, 500k, 10MB or 1GiB (0 for no limit)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def configured_limit(environ=None) -> int:
    """The limit from the environment (DEFAULT when unset or unreadable)."""
    value = (environ if environ is not None else os.environ).get(ENV)
    if value is None or not value.strip():
        return DEFAULT
    try:
        return parse_size(value)
    except ValueError:
        return DEFAULT


def truncation_note(limit: int, name: str) -> str:
    # (the limit counts characters; format_bytes writes the count in decimal units, "1 MB")
    return (f"\n[output truncated: this rank wrote more than {format_bytes(limit)} to {name} in this cell "
            "(counting characters); the rest was dropped. Change the limit with "
            f"%mpi_start --output-limit SIZE (or {ENV}; 0 for none)]\n")


class LimitedOutStream(OutStream):
    """An OutStream that passes at most `limit` characters per cell, then one note, then nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = configured_limit()
        self._cell = None
        self._written = 0
        self._dropped = 0

    def write(self, string):
        if not self.limit or not isinstance(string, str):
            return super().write(string)
        cell = self._cell_id()
        if cell != self._cell:
            self._cell, self._written, self._dropped = cell, 0, 0
        room = self.limit - self._written
        if len(string) <= room:
            self._written += len(string)
            return super().write(string)
        if room >= 0:  # the first write past the limit: what fits, then the note
            self._written = self.limit + 1
            super().write(string[:room] + truncation_note(self.limit, self.name))
            room = 0
        self._dropped += len(string) - max(room, 0)
        return len(string)

    def _cell_id(self):
        try:
            return self.parent_header.get("msg_id")
        except Exception:
            return None


# ------------------------------------------------------------------------------- push / pull size


class TransferTooLarge(ValueError):
    """A push would need more memory than this machine has free."""


def payload_bytes(namespace: dict) -> int:
    """Bytes of the buffers (numpy arrays, bytes, memoryviews) among the values; other objects count 0."""
    total = 0
    for value in namespace.values():
        nbytes = getattr(value, "nbytes", None)
        if isinstance(nbytes, int):
            total += nbytes
        elif isinstance(value, (bytes, bytearray)):
            total += len(value)
    return total


def check_push(namespace: dict, ranks: int, available: int | None = None) -> int:
    """Refuse a push whose copies cannot fit: each rank on this machine gets its own copy, and the
    message passes through the controller. Returns the payload size; raises TransferTooLarge."""
    size = payload_bytes(namespace)
    if size == 0:
        return 0
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    needed = size * (ranks + 1)  # one copy per rank, plus the one in flight
    if needed > available:
        raise TransferTooLarge(
            f"pushing {format_bytes(size)} to {ranks} rank{'s' if ranks != 1 else ''} needs about "
            f"{format_bytes(needed)} of memory (a copy per rank and one in flight), but only "
            f"{format_bytes(available)} is free here; push to fewer ranks (ranks=[0]), "
            "or scatter the data so each rank gets a part"
        )
    return size
