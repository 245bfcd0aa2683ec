"""Whether a Slurm answers here: one probe for the Slurm tests' fixture and for .ci/legs/slurm.sh.

The two once asked different questions (the fixture `squeue --me`, the leg `srun`), so the leg
went green while every real-Slurm test skipped. Now both ask `why_no_slurm()`: the launcher's own
check (`mpikernel.cluster.slurm.missing`, what `%mpi_start --launcher slurm` refuses on), then a
one-task job that must run. `python tests/support/slurm_helpers.py` prints the answer; exit 0
when Slurm works.
"""

import subprocess
import sys

from mpikernel.cluster import slurm

JOB_TIMEOUT = 30  # seconds for `srun true` (2 shared cores: a step can take a few seconds to start)


def why_no_slurm() -> str | None:
    """None when the launcher's check passes and a job runs; else a sentence saying what failed."""
    reason = slurm.missing()
    if reason:
        return reason
    cmd = ["srun", "-N1", "-n1", "-t", "1", "true"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(cmd)}` did not finish within {JOB_TIMEOUT} s (is slurmd up?)"
    if out.returncode != 0:
        first = (out.stderr.strip() or f"exit code {out.returncode}").splitlines()[0]
        return f"`{' '.join(cmd)}` failed: {first}"
    return None


if __name__ == "__main__":
    reason = why_no_slurm()
    print(f"no Slurm here: {reason}" if reason else "Slurm answers (squeue --me and srun)")
    sys.exit(1 if reason else 0)
