"""One rank under MPICH's gforker: keeps gforker's SIGINT away from the engine.

When a rank dies, gforker ends the others with SIGINT, then (about 3 s later) SIGQUIT. An engine
takes SIGINT as the person's interrupt, so the others' cells would end in a KeyboardInterrupt
nobody asked for (shown instead of "ended by mpiexec when rank 2 died"). This small parent,
gforker's child, in a session of its own (as hydra gives each rank, see docs/clusters.md on
sessions), turns any of those signals into SIGKILL of the engine at once (the owner's interrupts
go to the engine's own pid, never here), and exits as the engine did, so gforker's -exitinfo
reports the engine's own status. The engine inherits PMI_FD, stdout and stderr.

    python -m mpikernel.cluster.forked ENGINE_ARGV...
"""

import os
import signal
import subprocess
import sys


def main(argv):
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    engines = []

    def end_engine(*_):
        for engine in engines:
            engine.kill()

    # handlers, not SIG_IGN: exec resets handled signals, so the engine gets the default SIGINT
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, end_engine)
    engines.append(subprocess.Popen(argv, close_fds=False))
    code = engines[0].wait()
    if code < 0:  # died of a signal: die of the same one, so gforker reports it
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # (those cannot be caught anyway)
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
