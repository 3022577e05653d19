"""The throughput benchmarks still run and print their tables (tiny settings: no timing is
asserted, only that each path ran and the stacked one matched the sequential one)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> list[list[str]]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| step")
    ]


def test_stacked_seeds_prints_matching_paths():
    rows = run(
        "stacked_seeds.py", "--only", "tokenformer standard", "--steps", "3", "--seeds", "1", "2",
        "--repeats", "1",
    )  # fmt: skip
    assert [r[:2] for r in rows] == [["tokenformer standard", "1"], ["tokenformer standard", "2"]]
    for r in rows:
        assert float(r[2]) > 0 and float(r[3]) > 0 and float(r[4]) > 0
        assert float(r[5]) < 1e-4 and float(r[6]) < 1e-4  # weights and val loss agree


def test_step_profile_prints_each_share():
    rows = run("step_profile.py", "--only", "sft step", "--steps", "2")
    assert len(rows) == 1 and rows[0][0] == "sft step"
    shares = [float(c.rstrip("%")) for c in rows[0][-3:]]
    assert abs(sum(shares) - 100) <= 2  # matmul + attention + other, rounded
