"""A one-node SLURM cluster on localhost, for testing the cluster profile.

Starts munged, slurmctld and slurmd with a generated slurm.conf, written to the default
path (and removed again) because Snakemake's job step hides ``SLURM_CONF`` from its
nested srun; it refuses to touch a slurm.conf it did not write. As root, without
systemd or cgroups: process tracking by
``proctrack/linuxproc``, no task plugin, the node sized to this machine. Without an
accounting daemon ``sacct`` fails, so jobs are followed with squeue and finished jobs
stay visible for ``MinJobAge`` seconds. Every daemon started is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from papergrid.resources import machine_memory_mb

MIN_JOB_AGE = 600  # at least 3 x the plugin's initial status delay
# The job-step plugin drops every SLURM_* variable, SLURM_CONF included, before its
# nested srun, so the config must sit where srun looks by default.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
RUN_DIR = Path("/run/papergrid-slurm")  # PID files, to stop leftovers of a killed run
MARKER = "# papergrid test cluster: removed when the cluster stops"

SLURM_CONF = (
    MARKER
    + """
ClusterName=papergrid
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge={min_job_age}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
)


def available() -> bool:
    return all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue"))


@dataclass
class Cluster:
    root: Path
    pids: dict[str, int] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(SYSTEM_CONF)}

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check)

    def start(self, timeout: float = 60) -> Cluster:
        stop_leftovers()
        for d in ("state", "spool"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text().startswith(MARKER):
            raise RuntimeError(
                f"{SYSTEM_CONF} exists and is not ours: this machine has a SLURM of its own, "
                "which a test cluster would shadow"
            )
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.write_text(
            SLURM_CONF.format(
                root=self.root,
                cpus=os.cpu_count(),
                mem_mb=machine_memory_mb() - 1024,  # leave the daemons room
                min_job_age=MIN_JOB_AGE,
                ctld_port=6817,
                d_port=6818,
            )
        )
        self._start_munge()
        self._spawn("slurmctld", ["slurmctld", "-i", "-f", str(SYSTEM_CONF)])
        self._spawn("slurmd", ["slurmd", "-N", "localhost", "-f", str(SYSTEM_CONF)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if out in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"SLURM did not come up within {timeout:.0f} s; see {self.root}/*.log")

    def _start_munge(self) -> None:
        run_dir = Path("/run/munge")  # munged's socket; the clients look for it here
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        pidfile = run_dir / "papergrid-munged.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(
            ["runuser", "-u", "munge", "--", "munged", f"--pid-file={pidfile}"], check=True
        )
        for _ in range(50):
            if pidfile.exists() and pidfile.read_text().strip():
                self.pids["munged"] = int(pidfile.read_text())
                return
            time.sleep(0.1)
        raise RuntimeError("munged did not write its PID file")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        # -D: stay in the foreground, so the PID we hold is the daemon's own
        proc = subprocess.Popen(
            [*cmd, "-D"],
            env=self.env,
            stdout=open(self.root / f"{name}.out", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pids[name] = proc.pid
        self._procs[name] = proc
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        (RUN_DIR / f"{name}.pid").write_text(str(proc.pid))

    def stop(self) -> None:
        """SIGTERM each daemon we started (by PID), SIGKILL after 10 s, reap our children."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            proc = self._procs.pop(name, None)
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                continue
            for _ in range(100):
                if not alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        if SYSTEM_CONF.exists() and SYSTEM_CONF.read_text().startswith(MARKER):
            SYSTEM_CONF.unlink()


def stop_leftovers() -> None:
    """SIGTERM daemons a killed earlier test run left behind (found by our PID files)."""
    files = [*RUN_DIR.glob("*.pid"), Path("/run/munge/papergrid-munged.pid")]
    for pidfile in files:
        if not pidfile.exists():
            continue
        try:
            pid = int(pidfile.read_text().strip())
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if not alive(pid):
                        break
                    time.sleep(0.1)
        except (ValueError, ProcessLookupError):
            pass
        pidfile.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Running, not a zombie (a daemon whose parent never reaps it still answers kill 0)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
