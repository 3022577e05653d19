"""How long `snakemake -n` takes to plan the paper-scale grids, and a stress grid.

Usage: python benchmarks/plan_speed.py

Plans (dry run, nothing executed) in a temporary copy of the workflow:
1. config.paper.yaml as shipped (every experiment at paper scale);
2. the same widened until the DAG has thousands of jobs: 100 widths x 3 optimizers and
   16 sizes x 64 (then 128) token ratios, precision packed per (size, D/N) cell;
3. Snakemake's own floor: a workflow of one empty script rule shaped like a training
   rule (conda, log, benchmark, threads, resources, params, a directory output), with
   as many jobs.
Prints the number of jobs, the number of training runs they hold, and the wall time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def plan(workdir: Path, overrides: dict) -> tuple[int, float]:
    (workdir / "bench.yaml").write_text(yaml.safe_dump(overrides))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"]
    cmd += ["--configfile", "config.paper.yaml", "bench.yaml"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - t0
    total = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("total"))
    return total, seconds


FLOOR = """
rule all:
    input:
        expand("cells/c{i}", i=range(int(config["jobs"]))),


rule train:
    output:
        cell=directory("cells/c{i}"),
    log:
        "logs/c{i}.log",
    benchmark:
        "benchmarks/c{i}.tsv"
    conda:
        "env.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        runs=lambda wc: [{"cell": wc.i, "seed": s} for s in range(3)],
    script:
        "train.py"
"""


def floor(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "Snakefile").write_text(FLOOR)
        (work / "env.yaml").write_text("dependencies: [python]\n")
        (work / "train.py").write_text("")
        cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"]
        cmd += ["--config", f"jobs={jobs}"]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=work, capture_output=True, check=True)
        return time.perf_counter() - t0


def main() -> None:
    paper = yaml.safe_load((ROOT / "config.paper.yaml").read_text())
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("Snakefile", "config.yaml", "config.paper.yaml", "envs", "workflow"):
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
        (work / "profiles").symlink_to("workflow/profiles")
        jobs, seconds = plan(work, {})
        print(f"config.paper.yaml: {jobs} jobs planned in {seconds:.1f} s")

        sizes = [{"d_model": 64 * i, "n_layer": 4, "n_head": 4} for i in range(1, 17)]
        stress = {
            "weights": {"grid": {"width": list(range(16, 1616, 16))}},
            "precision": {
                "pack": True,  # thousands of small points, as a laptop-scale grid packs them
                "sizes": sizes,
                "grid": {
                    "d_model": [s["d_model"] for s in sizes],
                    "tokens_per_param": [10 + 5 * i for i in range(64)],
                    "train_bits": paper["precision"]["grid"]["train_bits"],
                },
            },
        }
        runs = 100 * len(base["weights"]["grid"]["optimizer"]) * len(
            paper["weights"]["grid"]["seed"]
        ) + 16 * 64 * len(paper["precision"]["grid"]["train_bits"])
        jobs, seconds = plan(work, stress)
        print(f"stress grid: {jobs} jobs ({runs}+ training runs) planned in {seconds:.1f} s")
        print(f"  Snakemake's floor for {jobs} jobs: {floor(jobs):.1f} s")

        bits = len(paper["precision"]["grid"]["train_bits"])
        stress["precision"]["grid"]["tokens_per_param"] = [10 + 5 * i for i in range(128)]
        runs += 16 * 64 * bits
        jobs, seconds = plan(work, stress)
        print(f"stress grid x2: {jobs} jobs ({runs}+ training runs) planned in {seconds:.1f} s")
        print(f"  Snakemake's floor for {jobs} jobs: {floor(jobs):.1f} s")


if __name__ == "__main__":
    main()
