# Shared by .ci/slurm-up (one node) and .ci/cluster-up (three nodes in network namespaces): the
# Debian packages, and the slurm.conf lines this machine needs whatever the cluster's shape (found
# by trial, see docs/clusters.md). Sourced, not run; the sourcing script defines say() and fail().

# install_slurm_packages: slurmctld slurmd slurm-client munge from Debian, unless already there
# (one `apt-get update` per CI run: .ci/run leaves $WORK/.apt-updated behind).
install_slurm_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v srun >/dev/null \
        && command -v munged >/dev/null; then
        return 0
    fi
    say "installing slurmctld slurmd slurm-client munge from Debian"
    if [ ! -e "${WORK:-/nonexistent}/.apt-updated" ]; then apt-get update -qq >/dev/null || fail "apt-get update failed"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null \
        || fail "apt-get install slurmctld slurmd slurm-client munge failed"
}

# slurm_conf_common: the lines every slurm.conf of ours holds: no systemd and no cgroup delegation
# here (proctrack/linuxproc, task/none), MpiDefault=pmi2 (what the mpich wheel speaks), nodes may
# declare more CPUs than they have (config_overrides: 16 ranks on 2 cores), short kill waits.
slurm_conf_common() {
    cat <<'CONF'
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmi2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
MinJobAge=2
InactiveLimit=0
CONF
}

# write_cgroup_conf FILE MARK: cgroup/v1 with IgnoreSystemd=yes (no systemd here)
write_cgroup_conf() {
    printf '%s\nCgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\n' "$2" > "$1"
}

# stop_pidfile FILE NAME: end the daemon whose pid FILE holds (TERM, 5 s, KILL), remove FILE
stop_pidfile() {
    [ -s "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null && say "stopped $2 ($pid)"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$1"
}
