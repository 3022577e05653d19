"""The power planner: replicas of a grid's seeds, the ladder that finds the seeds a claim
needs, its cost from benchmark files, and the report for a config before training."""

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from papergrid.calibration import calibrate, summary
from papergrid.claims import ClaimSpec, Effects, Rule, claims_table, evaluate
from papergrid.planner import (
    Cost,
    experiment_cost,
    grid_hash,
    ladders,
    needed,
    plan_line,
    power_at,
    power_report,
    seed_count,
)
from papergrid.replicas import relabel, replicated, stack
from papergrid.stats import t_mean


@dataclass(frozen=True)
class Tables:
    runs: pd.DataFrame
    other: pd.DataFrame | None = None


def seeds_table(n=3, seed0=0):
    return pd.DataFrame({"seed": np.arange(seed0, seed0 + n), "x": np.arange(n, dtype=float)})


def test_replicas_relabel_seeds_in_every_table_consistently():
    data = {"runs": seeds_table(), "soups": seeds_table(2)}
    both = stack([relabel(data, 0), relabel(data, 1000)])
    assert both["runs"]["seed"].tolist() == [0, 1, 2, 1000, 1001, 1002]
    assert both["soups"]["seed"].tolist() == [0, 1, 1000, 1001]
    dc = stack([relabel(Tables(seeds_table()), i * 10) for i in range(3)])
    assert dc.runs["seed"].nunique() == 9 and dc.other is None


def test_a_replicated_simulator_draws_k_times_the_seeds_independently():
    def sim(e, rng):
        return pd.DataFrame({"seed": [0, 1, 2], "x": e + rng.standard_normal(3)})

    d = replicated(sim, 4)(0.0, np.random.default_rng(0))
    assert d["seed"].nunique() == 12 and d["x"].nunique() == 12


def toy(n=3, sd=1.0) -> ClaimSpec:
    """mean above 0 from n seeds of noise sd; the paper's effect 0.5."""
    return ClaimSpec(
        experiment="toy",
        claim_id="toy",
        statement="mean above 0",
        statistic="mean (t over seeds)",
        rule=Rule("above", 0.0),
        sesoi=0.0,
        sesoi_note="test",
        effects=Effects(margin=0.0, paper=0.5, opposite=-0.5),
        compute=lambda d: t_mean(d["x"].to_numpy()),
        simulate=lambda e, rng: pd.DataFrame(
            {"seed": np.arange(n), "x": e + sd * rng.standard_normal(n)}
        ),
    )


def test_the_ladder_finds_about_the_seeds_that_normal_theory_needs():
    s = toy()
    data = s.simulate(0.5, np.random.default_rng(1))
    claims = claims_table(evaluate([s], data, 0.95)).to_pandas()
    rates = calibrate([s], claims, n_sims=200, level=0.95)
    paper, _ = ladders(rates, "toy")
    # 80% power for d = 0.5 at one-sided 2.5% needs about 34 seeds: 48 = 16 x 3 on the ladder
    assert paper[1] < 0.3 and needed(paper) == 16, paper
    assert paper[8] < 0.8 <= paper[16]
    assert summary(rates, [s]).iloc[0]["power"] == paper[1]  # the grid's own rate


def test_claims_whose_data_have_no_seeds_are_not_planned():
    s = toy()
    no_seed = ClaimSpec(
        **{
            **{f: getattr(s, f) for f in s.__dataclass_fields__},
            "simulate": lambda e, rng: pd.DataFrame({"x": e + rng.standard_normal(3)}),
        }
    )
    rates = calibrate(
        [no_seed],
        pd.DataFrame({"claim_id": ["toy"], "estimate": [0.1], "verdict": ["inconclusive"]}),
        n_sims=40,
        level=0.95,
    )
    assert ladders(rates, "toy") == ({}, {})
    assert plan_line({}, {}, 3, None).startswith("not planned")


def test_the_plan_line_names_seeds_and_cost():
    cost = Cost(job_seconds=3600.0, cpu_seconds=7000.0, jobs=10, cpu_model="Test CPU")
    line = plan_line({1: 0.2, 2: 0.5, 4: 0.85}, {1: 0.1, 2: 0.2, 4: 0.3}, 3, cost)
    assert line.startswith("12 seeds at the paper's effect (4x; power 0.85), about 4.0 h of job")
    assert "3.9 h with --cores 2 on Test CPU" in line
    assert "more than 12 seeds at the estimate (power 0.30 at 4x)" in line
    assert (
        plan_line({1: 0.9}, {}, 5, cost) == "this grid's 5 seeds at the paper's effect (power 0.90)"
    )


def test_cost_sums_the_benchmark_files_less_the_verdict_rules(tmp_path):
    head = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "s0.tsv").write_text(
        head + "100.5\t0:01:40\t1\t1\t1\t1\t0\t0\t99\t190.0\n"
    )
    (tmp_path / "train" / "s1.tsv").write_text(head + "50\t0:00:50\t1\t1\t1\t1\t0\t0\t99\t-\n")
    (tmp_path / "calibration.tsv").write_text(head + "900\t0:15:00\t1\t1\t1\t1\t0\t0\t99\t900\n")
    cost = experiment_cost(tmp_path)
    assert (cost.job_seconds, cost.cpu_seconds, cost.jobs) == (150.5, 190.0, 2)
    assert experiment_cost(tmp_path / "missing").jobs == 0


def test_power_at_interpolates_in_log_seeds():
    ladder = {1: 0.2, 2: 0.4, 4: 0.8}
    assert power_at(ladder, 2) == 0.4 and math.isclose(power_at(ladder, 2**1.5), 0.6)
    assert math.isnan(power_at(ladder, 0.5)) and power_at(ladder, 10) == 0.8


def test_seed_count_and_grid_hash_see_only_the_seed_lists():
    block = {"grid": {"seed": [0, 1, 2], "width": [8, 16]}, "capacity": {"seeds": [0, 1]}}
    paths = [["grid", "seed"], ["capacity", "seeds"]]
    assert seed_count(block, paths) == 2
    more = {"grid": {"seed": list(range(9)), "width": [8, 16]}, "capacity": {"seeds": [0]}}
    assert grid_hash(block, paths) == grid_hash(more, paths)
    wider = {**block, "grid": {"seed": [0, 1, 2], "width": [8, 16, 32]}}
    assert grid_hash(block, paths) != grid_hash(wider, paths)


def test_the_power_report_answers_for_a_config_before_training(tmp_path):
    block = {"grid": {"seed": [0, 1, 2]}}
    paths = [["grid", "seed"]]
    base = tmp_path / "toy"
    base.mkdir()
    rates = pd.DataFrame(
        {
            "claim_id": ["c"] * 4,
            "scenario": ["paper", "plan_paper", "plan_paper", "estimate"],
            "supported": [0.3, 0.6, 0.85, 0.1],
            "not_supported": [0.0, 0.0, 0.0, 0.0],
            "replicas": [1.0, 2.0, 4.0, 1.0],
        }
    )
    rates.to_parquet(base / "calibration_rates.parquet")
    pd.DataFrame(
        {
            "claim_id": ["c"],
            "statement": ["s"],
            "verdict": ["inconclusive"],
            "verdict_holm": ["inconclusive"],
            "gate_reason": [""],
        }
    ).to_parquet(base / "claims.parquet")
    meta = {
        "seeds": 3,
        "grid_hash": grid_hash(block, paths),
        "job_seconds": 600.0,
        "cpu_seconds": 1200.0,
        "jobs": 3,
        "cpu_model": "Test CPU",
    }
    (base / "plan.json").write_text(json.dumps(meta))
    bigger = {"toy": {"grid": {"seed": list(range(12))}}}
    md, figures = power_report(bigger, {"toy": paths}, tmp_path, None)
    assert "this config: 12 seeds (4x)" in md and "| `c` | inconclusive | 0.85 |" in md
    assert "| 12 |" in md  # seeds for 80% power
    assert figures["toy"]["seeds"] == 3
    wider = {"toy": {"grid": {"seed": [0, 1, 2], "width": [4]}}}
    md, _ = power_report(wider, {"toy": paths}, tmp_path, None)
    assert "differs from the source run in more than its seeds" in md
    md, _ = power_report(bigger, {"toy": paths}, tmp_path / "none", {"toy": figures["toy"]})
    assert "Source: pilot (shipped)" in md
    md, _ = power_report(bigger, {"toy": paths}, tmp_path / "none", None)
    assert "run the grid once first" in md
