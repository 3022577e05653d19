"""How to run many tiny grid points on SLURM: one job each, group jobs, job arrays, or
several points trained in one process (what papergrid's training rules do).

Usage: python benchmarks/packing_slurm.py [--points 8] [--seconds 2]

Needs Debian's slurm-wlm and munge and the `slurm` extra; as root it starts the same
one-node localhost cluster as `pytest -m slurm` (papergrid/slurm_cluster.py) and stops
it again. Every grid point is a script that imports torch and computes for about
``--seconds`` seconds, as a small training run does. For each way of submitting them it
prints the wall time of the whole `snakemake` call and the number of sbatch submissions,
next to the same grid run locally with `--cores 2`.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from papergrid import slurm_cluster

SNAKEFILE = """
N = int(config["points"])


rule all:
    input:
        "out/packed.txt" if config["mode"] == "packed" else expand("out/p{i}.txt", i=range(N)),


rule point:
    output:
        "out/p{i}.txt",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        seconds=config["seconds"],
    script:
        "work.py"


rule packed:
    output:
        "out/packed.txt",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        seconds=config["seconds"],
        points=N,
    script:
        "work.py"
"""

WORK = """
import time

import torch

torch.set_num_threads(1)


def point(seconds):
    x = torch.randn(128, 128)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        x = torch.tanh(x @ x / 128)
    return float(x.sum())


points = getattr(snakemake.params, "points", 1)
values = [point(snakemake.params.seconds) for _ in range(points)]
with open(snakemake.output[0], "w") as fh:
    fh.write(repr(values))
"""

# squeue status mode: the test cluster has no accounting daemon (README, SLURM section)
SLURM = [
    "--executor",
    "slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--jobs",
    "8",
    "--latency-wait",
    "5",
]


def submissions(cluster: slurm_cluster.Cluster) -> set[str]:
    """sbatch submissions the controller still knows (finished ones stay MinJobAge s):
    an array counts once, by its ArrayJobId."""
    out = cluster.run("scontrol", "-o", "show", "jobs", check=False).stdout
    return {
        (re.search(r"ArrayJobId=(\d+)", line) or re.search(r"JobId=(\d+)", line)).group(1)
        for line in out.splitlines()
        if "JobId=" in line
    }


def run(workdir: Path, env: dict | None, kind: str, args: list[str], points: int, seconds: float):
    subprocess.run(["rm", "-rf", "out", ".snakemake"], cwd=workdir, check=True)
    cmd = [sys.executable, "-m", "snakemake", "--config", f"points={points}"]
    cmd += [f"seconds={seconds}", f"mode={kind}", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--only", default="", help="run only the modes containing this text")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still stop the cluster
    if not slurm_cluster.available():
        sys.exit("needs slurm-wlm and munge: apt-get install slurm-wlm munge")
    n = opts.points
    modes = {
        "local, one job per point": (["--cores", "2"], "points"),
        "local, packed in one job": (["--cores", "2"], "packed"),
        "slurm, one job per point": (SLURM, "points"),
        "slurm, group jobs": (
            # --cores 2: the group job may not ask for more CPUs than the node has
            SLURM + ["--groups", "point=g", "--group-components", f"g={n}", "--cores", "2"],
            "points",
        ),
        "slurm, job array": (SLURM + ["--slurm-array-jobs", "point"], "points"),
        "slurm, packed in one job": (SLURM, "packed"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "Snakefile").write_text(SNAKEFILE)
        (work / "work.py").write_text(WORK)
        cluster = slurm_cluster.Cluster(work / "cluster").start()
        try:
            print(f"{n} grid points of about {opts.seconds:g} s of compute each")
            for name, (args, kind) in modes.items():
                if opts.only not in name:
                    continue
                env = cluster.env if name.startswith("slurm") else None
                before = submissions(cluster)
                try:
                    wall = run(work, env, kind, args, n, opts.seconds)
                except RuntimeError as err:
                    print(f"{name:28s} failed: {str(err).splitlines()[0]}")
                    print(str(err)[-1500:])
                    continue
                subs = len(submissions(cluster) - before)
                print(f"{name:28s} {wall:6.1f} s wall, {subs} sbatch submissions", flush=True)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
