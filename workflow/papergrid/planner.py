"""The power planner: how many seeds would decide each open claim, and what they cost.

The lever is the seed count, the one a user changes in config: the calibration
(:mod:`papergrid.calibration`) draws the claim's data as k independent replicas of the
shipped grid, each replica's seeds relabelled so that the statistic sees k times the
seeds (k times the seeds per cell, where cells are the units), and searches a doubling
ladder of k for the rate of "supported" at the paper's effect and of a decided verdict at
the estimate to reach 80%. :func:`papergrid.replicas.replicated` builds such a simulator
from the claim's own, whatever the shape of its data (a runs table, a dict or a dataclass
of tables); it lives apart so that editing this module's reports reruns no calibration.

Costs come from the last run's benchmark files: the experiment's job-seconds and
CPU-seconds, scaled by k (every training job of these grids trains one seed or one
seed's cell; shared set-up jobs make the figure an overestimate). The
``power`` target (workflow/rules/verdicts.smk) reads the ladders of the last run in
results/, or the pilot figures shipped in ``pilot.json`` when there is none, and says for
the config given, before any training, which claims its seed counts would decide.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from papergrid.claims import shown_verdict
from papergrid.provenance import canonical

PILOT = Path(__file__).with_name("pilot.json")
TARGET = 0.8
# rules of the verdict machinery itself: their cost does not grow with the seeds trained
OWN_RULES = ("claims", "calibration", "verdicts", "claims_page", "report", "power")


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one run of an experiment's grid cost, from its benchmark files."""

    job_seconds: float  # wall seconds of every job, summed
    cpu_seconds: float  # CPU seconds of every job, summed
    jobs: int
    cpu_model: str

    def hours(self, k: float, cores: int = 2) -> tuple[float, float]:
        """(hours of job time, hours of wall time on ``cores`` cores) for k times the seeds."""
        wall = max(self.cpu_seconds, self.job_seconds) / max(cores, 1)
        return k * self.job_seconds / 3600, k * wall / 3600


def cpu_model() -> str:
    """The CPU's model name (lscpu's), or "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def experiment_cost(bench_dir: str | os.PathLike) -> Cost:
    """Sum of the experiment's benchmark files (Snakemake's TSVs: ``s``, ``cpu_time``),
    less the verdict machinery's own rules."""
    seconds = cpu = 0.0
    jobs = 0
    root = Path(bench_dir)
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        if path.stem in OWN_RULES:
            continue
        with path.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                seconds += _number(row.get("s"))
                cpu += _number(row.get("cpu_time"))
                jobs += 1
    return Cost(seconds, cpu, jobs, cpu_model())


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "", "-", "NA") else 0.0
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def needed(ladder: Mapping[int, float], target: float = TARGET) -> int | None:
    """The smallest replica count whose rate reaches ``target`` (None: none on the ladder)."""
    for k in sorted(ladder):
        if ladder[k] >= target:
            return k
    return None


def power_at(ladder: Mapping[int, float], k: float) -> float:
    """The ladder's rate at ``k`` replicas, interpolated in log k (NaN below its first
    rung, the last rung's rate above its last)."""
    ks = sorted(x for x in ladder if math.isfinite(ladder[x]))
    if not ks or k < ks[0] - 1e-9:
        return math.nan
    if k >= ks[-1]:
        return float(ladder[ks[-1]])
    for lo, hi in zip(ks, ks[1:], strict=False):
        if lo <= k <= hi:
            f = (math.log(k) - math.log(lo)) / (math.log(hi) - math.log(lo))
            return float(ladder[lo] + f * (ladder[hi] - ladder[lo]))
    return math.nan


def plan_line(
    ladder_paper: Mapping[int, float],
    ladder_estimate: Mapping[int, float],
    seeds: int,
    cost: Cost | None,
    cores: int = 2,
) -> str:
    """'this grid cannot answer; N seeds would (cost)' for one open claim."""
    if not ladder_paper and not ladder_estimate:
        return "not planned: its simulated data have no seed column to replicate"
    parts = []
    for what, ladder in (
        ("at the paper's effect", ladder_paper),
        ("at the estimate", ladder_estimate),
    ):
        if not ladder:
            continue
        k = needed(ladder)
        top = max(ladder)
        if k is None:
            parts.append(
                f"more than {top * seeds} seeds {what} (power {ladder[top]:.2f} at {top}x)"
            )
        elif k == 1:
            parts.append(f"this grid's {seeds} seeds {what} (power {ladder[1]:.2f})")
        else:
            parts.append(
                f"{k * seeds} seeds {what} ({k}x; power {ladder[k]:.2f}){_cost(cost, k, cores)}"
            )
    return "; ".join(parts)


def _cost(cost: Cost | None, k: int, cores: int) -> str:
    if cost is None or cost.jobs == 0:
        return ""
    job_h, wall_h = cost.hours(k, cores)
    return (
        f", about {job_h:.1f} h of job time, at least {wall_h:.1f} h with --cores {cores} on "
        f"{cost.cpu_model}"
    )


def ladders(rates: pd.DataFrame, claim_id: str) -> tuple[dict[int, float], dict[int, float]]:
    """(power ladder at the paper's effect, decided-rate ladder at the estimate) of one
    claim from the calibration's rates table; k = 1 is the shipped grid. Both are empty
    when the claim could not be planned (a ``plan_none`` row)."""
    mine = rates[rates["claim_id"] == claim_id]
    if mine["scenario"].isin(["plan_none", "plan_failed"]).any():
        return {}, {}
    paper: dict[int, float] = {}
    est: dict[int, float] = {}
    for r in mine.itertuples():
        k = int(r.replicas) if math.isfinite(r.replicas) else 1
        if r.scenario in ("paper", "plan_paper"):
            paper[k] = float(r.supported)
        elif r.scenario in ("estimate", "plan_estimate"):
            est[k] = float(r.supported + r.not_supported)
    return paper, est


def plans(
    rates: pd.DataFrame, claim_ids: Sequence[str], seeds: int, cost: Cost | None
) -> dict[str, str]:
    """The planner's line for each claim (claim id -> line)."""
    out = {}
    for cid in claim_ids:
        mine = rates[rates["claim_id"] == cid]
        failed = mine[mine["scenario"].isin(["failed", "plan_failed"])]
        if len(failed):
            out[cid] = f"not planned: {failed['error'].iloc[0]}"
            continue
        paper, est = ladders(rates, cid)
        out[cid] = plan_line(paper, est, seeds, cost)
    return out


# --- the power target: before training, for the config given --------------------------


def seed_count(block: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> int:
    """The smallest number of seeds over the config paths that list an experiment's seeds."""
    counts = []
    for path in paths:
        node: Any = block
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, list):
            counts.append(len(node))
    return min(counts) if counts else 0


def grid_hash(block: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> str:
    """Hash of an experiment's config block without its seed lists: equal hashes mean the
    grids differ in seeds alone, which the ladder can answer for."""
    b = copy.deepcopy(dict(block))
    for path in paths:
        node: Any = b
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    text = json.dumps(canonical(b), sort_keys=True, default=str)  # -0.0 is 0.0
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def last_run_summary(experiment: str, results: str | os.PathLike) -> dict[str, Any] | None:
    """An experiment's planner figures from its last run in ``results`` (None if it has
    no complete calibration there)."""
    base = Path(results) / experiment
    rates_path, claims_path = base / "calibration_rates.parquet", base / "claims.parquet"
    meta_path = base / "plan.json"
    if not (rates_path.exists() and claims_path.exists() and meta_path.exists()):
        return None
    rates, claims = pd.read_parquet(rates_path), pd.read_parquet(claims_path)
    meta = json.loads(meta_path.read_text())
    out: dict[str, Any] = {**meta, "source": str(base), "claims": {}}
    for c in claims.itertuples():
        paper, est = ladders(rates, c.claim_id)
        out["claims"][c.claim_id] = {
            "statement": c.statement,
            "verdict": c.verdict,
            "verdict_holm": c.verdict_holm,
            "gate_reason": c.gate_reason,
            "paper": {str(k): v for k, v in sorted(paper.items())},
            "estimate": {str(k): v for k, v in sorted(est.items())},
        }
    return out


def plan_meta(seeds: int, grid: str, cost: Cost) -> dict[str, Any]:
    """What the verdicts rule records beside the claims for the power target."""
    return {
        "seeds": seeds,
        "grid_hash": grid,
        "job_seconds": cost.job_seconds,
        "cpu_seconds": cost.cpu_seconds,
        "jobs": cost.jobs,
        "cpu_model": cost.cpu_model,
    }


def power_report(
    config: Mapping[str, Any],
    experiments: Mapping[str, Sequence[Sequence[str]]],
    results: str | os.PathLike,
    pilot: Mapping[str, Any] | None,
    cores: int = 2,
) -> tuple[str, dict[str, Any]]:
    """(Markdown, figures) of what ``config``'s grid would decide: per experiment and
    claim, the power at the paper's effect and the decided rate at the estimate for the
    config's seed count, from the last run's ladders (or the shipped pilot), and the cost."""
    lines = [
        "# What this config's grid can decide (power planner)",
        "",
        "Power: the rate of 'supported' at the paper's effect; decided: the rate of a decided "
        "verdict at the last run's estimate; both read off the calibration's ladder of seed "
        "counts (interpolated in log seeds), from the last run in results/ or, where there is "
        "none, from the pilot figures shipped with the package. Costs scale the source run's "
        "job-seconds by the seed ratio; machines of one kind differ up to 3x.",
    ]
    figures: dict[str, Any] = {}
    for exp, paths in experiments.items():
        block = config.get(exp, {})
        summary = last_run_summary(exp, results)
        source = "last run"
        if summary is None and pilot and exp in pilot:
            summary, source = dict(pilot[exp]), "pilot (shipped)"
        lines += ["", f"## {exp}", ""]
        seeds_now = seed_count(block, paths)
        if summary is None:
            lines.append("No run in results/ and no pilot figures: run the grid once first.")
            continue
        figures[exp] = summary
        k = seeds_now / summary["seeds"] if summary.get("seeds") else math.nan
        same_grid = grid_hash(block, paths) == summary.get("grid_hash")
        cost = Cost(
            summary.get("job_seconds", 0.0),
            summary.get("cpu_seconds", 0.0),
            summary.get("jobs", 0),
            summary.get("cpu_model", "unknown"),
        )
        job_h, wall_h = cost.hours(k if math.isfinite(k) else 1.0, cores)
        lines.append(
            f"Source: {source} ({summary['seeds']} seeds, {summary.get('cpu_model', '?')}); "
            f"this config: {seeds_now} seeds ({k:.2g}x), about {job_h:.2f} h of job time, "
            f"at least {wall_h:.2f} h with --cores {cores} on that machine."
        )
        if not same_grid:
            lines.append(
                "The config's grid differs from the source run in more than its seeds: the "
                "figures below hold for the seed count only; run the grid to calibrate it."
            )
        lines += ["", "| claim | source verdict | power now | decided now | seeds for 80% power |"]
        lines.append("|---|---|---|---|---|")
        for cid, c in summary["claims"].items():
            paper = {int(a): b for a, b in c["paper"].items()}
            est = {int(a): b for a, b in c["estimate"].items()}
            need = needed(paper)
            if c.get("gate_reason"):
                need_text = "seeds cannot: a gate failed"
            elif not paper:
                need_text = "not planned"
            elif need:
                need_text = f"{need * summary['seeds']}"
            else:
                need_text = f"more than {max(paper) * summary['seeds']}"

            shown = shown_verdict(c["verdict"], c.get("gate_reason", ""))
            lines.append(
                f"| `{cid}` | {shown} | {_rate(power_at(paper, k))} | {_rate(power_at(est, k))} | "
                f"{need_text} |"
            )
    return "\n".join(lines) + "\n", figures


def _rate(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.2f}"


def load_pilot(path: str | os.PathLike = PILOT) -> dict[str, Any] | None:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else None


def write_plan(
    rates_path: str,
    raw_claims_path: str,
    seeds: int,
    grid: str,
    bench_dir: str,
    out: str,
) -> dict[str, str]:
    """Price the ladder with the experiment's benchmark files, write the figures the power
    target reads (``out``) and return each claim's planner line."""
    from papergrid.io import write_text

    rates = pd.read_parquet(rates_path)
    ids = pd.read_parquet(raw_claims_path)["claim_id"].tolist()
    cost = experiment_cost(bench_dir)
    write_text(json.dumps(plan_meta(seeds, grid, cost), indent=1, sort_keys=True) + "\n", out)
    return plans(rates, ids, seeds, cost)


def power_job(
    blocks: Mapping[str, Any],
    seed_paths: Mapping[str, Sequence[Sequence[str]]],
    results: str,
    md_out: str,
    json_out: str,
) -> None:
    """The power target: the report for the config's blocks, printed and written."""
    from papergrid.io import write_text

    md, figures = power_report(blocks, seed_paths, results, load_pilot())
    print(md)
    write_text(md, md_out)
    write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", json_out)
