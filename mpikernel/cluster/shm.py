"""The shared-memory segments of a world's ranks, removed when the ranks are killed.

MPI libraries keep intra-node messages in a file under /dev/shm (MPICH: `mpich_shm_*`, Open MPI:
`vader_segment.*` / `sm_segment.*`) and unlink it in MPI_Finalize. A world's ranks never
finalize: `World.stop` kills them, and so does the watchdog when the owner dies. Each killed
world used to leave its 4 MB segment behind in RAM-backed /dev/shm — 1,900 files, 3.7 GB, after
a day of this project's tests on one machine; a class restarting kernels would fill a server the
same way. So the owner (and a rank's watchdog, when there is no owner left) removes the segments
the ranks had mapped, once they can no longer be used.
"""

from __future__ import annotations

import os

SHM_DIR = "/dev/shm"
PREFIXES = ("mpich_shm_", "vader_segment.", "sm_segment.")  # MPI's own files only, never a user's


def mapped_segments(pids) -> set[str]:
    """Paths of MPI shared-memory files that the processes `pids` map and that still exist.

    Reads /proc/PID/maps; processes that are gone (or on another host) add nothing.
    """
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{int(pid)}/maps") as maps:
                lines = maps.read().splitlines()
        except (OSError, ValueError):
            continue
        for line in lines:
            fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
            path = fields[5].strip() if len(fields) == 6 else ""
            if is_mpi_segment(path):
                found.add(path)
    return found


def is_mpi_segment(path: str) -> bool:
    """True for a live (not yet unlinked) MPI segment file: /dev/shm/<one of PREFIXES>..."""
    folder, _, name = path.rpartition("/")
    return folder == SHM_DIR and name.startswith(PREFIXES) and not path.endswith("(deleted)")


def remove(paths) -> int:
    """Unlink `paths` (MPI segments only); returns how many were removed. Missing files are fine:
    a rank that did finalize, or another rank's watchdog, removed them first."""
    removed = 0
    for path in paths:
        if not is_mpi_segment(path):
            continue
        try:
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed


def remove_own():
    """Remove the segments this process maps (a rank's watchdog, just before it ends the rank)."""
    return remove(mapped_segments([os.getpid()]))
