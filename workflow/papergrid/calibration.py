"""Calibration of claim rules by simulation, for the grid as shipped.

Each :class:`~papergrid.claims.ClaimSpec` carries a simulator that draws data of exactly
the shipped shape (the same cells, seeds and units, noise from the observed seed spread)
with a planted value of the claim's statistic. Applying the claim's own statistic and
rule to a few hundred such draws per planted value gives, per claim:

- the rate of "supported" at the rule's margin (the false-support rate; at most the
  one-sided alpha for a well-calibrated rule) and with no effect at all;
- the power: the rate of "supported" at the paper's effect;
- the rate of "not supported" at an effect against the claim;
- the smallest effect supported with 80% power, on the line from the margin through the
  paper's effect;
- the stability of the verdict: the rate at which a rerun with other seeds, at the
  effect estimated from the data, gives the verdict the data gave;
each rate with its Monte Carlo standard error. An "inconclusive" verdict then reads as
"this grid cannot answer" (low power) or "the data sit on the line" (high power).

Then the power planner (:mod:`papergrid.planner`): where the power at the paper's effect,
or the rate of a decided verdict at the estimate, is below 80%, the same claim is drawn
with k times the grid's seeds for k on a doubling ladder (``plan_paper`` and
``plan_estimate`` rows, with ``replicas`` = k) until the rate reaches 80%. These draws come
after every other scenario's, so the grid's own rates do not depend on the ladder. A claim
whose statistic or simulator raises is reported as not calibrated (a ``failed`` row naming
the error), never as a crash of the whole job: a grid too small for one claim still gets
the others and the report.

Draws are seeded from (seed, claim id), so a claim's calibration does not depend on the
other claims or on the number of processes.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, ClaimSpec
from papergrid.replicas import LADDER, has_seeds, replicated

log = logging.getLogger(__name__)

POWER_STEPS = (0.25, 0.5, 0.75, 1.25, 1.5, 2.0)  # multiples of (paper - margin) from the margin
TARGET_POWER = 0.8
STABLE = 0.8  # a verdict a rerun repeats with less probability than this is "unstable"

COLUMNS = (
    "experiment",
    "claim_id",
    "scenario",  # no_effect | margin | paper | opposite | power | estimate
    "effect",  # the planted value of the statistic
    "n_sims",
    "supported",
    "not_supported",
    "inconclusive",
    "same_as_observed",  # estimate scenario only: rate of the observed verdict
    "replicas",  # k: the draws had k times the grid's seeds (1 for the grid itself)
    "error",  # failed rows: why the claim could not be calibrated
)
PLAN_MAX_COSTLY = 8  # the ladder's last rung for claims that refit a law on every draw


def verdict_counts(
    spec: ClaimSpec,
    effect: float,
    n_sims: int,
    level: float,
    rng: np.random.Generator,
    replicas: int = 1,
) -> dict[str, int]:
    counts = {SUPPORTED: 0, NOT_SUPPORTED: 0, INCONCLUSIVE: 0}
    simulate = replicated(spec.simulate, replicas)
    for _ in range(n_sims):
        counts[spec.rule.verdict(spec.compute(simulate(effect, rng)), level)] += 1
    return counts


def claim_seed(seed: int, claim_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(claim_id.encode())])


def calibrate_claim(
    spec: ClaimSpec,
    estimate: float,
    observed: str,
    *,
    n_sims: int,
    level: float,
    seed: int,
    plan: bool = True,
    plan_sims: int = 40,
    plan_max_replicas: int = max(LADDER),
) -> list[dict[str, Any]]:
    """Rows of verdict rates for one claim (see :data:`COLUMNS`); ``plan``: with the
    power planner's ladder, ``plan_sims`` draws per rung up to ``plan_max_replicas``."""
    rng = claim_seed(seed, spec.claim_id)
    n_sims = max(20, round(n_sims * spec.sims_share))
    e = spec.effects
    scenarios: list[tuple[str, float, int]] = []
    if math.isfinite(e.no_effect):
        scenarios.append(("no_effect", e.no_effect, n_sims))
    scenarios += [("margin", e.margin, n_sims), ("paper", e.paper, n_sims)]
    scenarios.append(("opposite", e.opposite, n_sims))
    span = e.paper - e.margin
    scenarios += [("power", e.margin + f * span, max(50, n_sims // 2)) for f in POWER_STEPS]
    if math.isfinite(estimate):
        scenarios.append(("estimate", estimate, n_sims))
    rows: list[dict[str, Any]] = []
    try:
        for scenario, effect, n in scenarios:
            c = verdict_counts(spec, effect, n, level, rng)
            rows.append(_row(spec, scenario, effect, n, c, observed))
    except Exception as err:  # noqa: BLE001 - one claim's failure is reported, not fatal
        log.warning("claim %s: not calibrated: %r", spec.claim_id, err)
        return [_failed(spec, "failed", err)]
    if plan and plan_max_replicas > 1:
        try:
            rows += plan_claim(spec, rows, n=plan_sims, top=plan_max_replicas, level=level, rng=rng)
        except Exception as err:  # noqa: BLE001 - the grid's own rates stand without it
            log.warning("claim %s: not planned: %r", spec.claim_id, err)
            rows.append(_failed(spec, "plan_failed", err))
    return rows


def _failed(spec: ClaimSpec, scenario: str, err: Exception) -> dict[str, Any]:
    return {
        **{k: math.nan for k in COLUMNS},
        "experiment": spec.experiment,
        "claim_id": spec.claim_id,
        "scenario": scenario,
        "n_sims": 0,
        "replicas": 1.0,
        "error": f"{type(err).__name__}: {err}",
    }


def _row(
    spec: ClaimSpec,
    scenario: str,
    effect: float,
    n: int,
    counts: dict[str, int],
    observed: str,
    replicas: int = 1,
) -> dict[str, Any]:
    return {
        "experiment": spec.experiment,
        "claim_id": spec.claim_id,
        "scenario": scenario,
        "effect": float(effect),
        "n_sims": n,
        "supported": counts[SUPPORTED] / n,
        "not_supported": counts[NOT_SUPPORTED] / n,
        "inconclusive": counts[INCONCLUSIVE] / n,
        "same_as_observed": counts[observed] / n if scenario == "estimate" else math.nan,
        "replicas": float(replicas),
        "error": "",
    }


def plan_claim(
    spec: ClaimSpec,
    grid_rows: list[dict[str, Any]],
    *,
    n: int,
    top: int,
    level: float,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """The power planner's ladder for one claim (see the module docstring): at the paper's
    effect the rate of "supported", at the estimate the rate of a decided verdict, each
    searched over k times the seeds until it reaches the target power."""
    if not has_seeds(spec.simulate(spec.effects.paper, rng)):
        return [{**_row(spec, "plan_none", math.nan, 1, _zero(), INCONCLUSIVE), "n_sims": 0}]
    n = max(10, round(n * min(spec.sims_share, 1.0)))
    top = min(top, PLAN_MAX_COSTLY) if spec.sims_share < 1 else top
    by_scenario = {r["scenario"]: r for r in grid_rows}
    rows = []
    targets = (
        ("plan_paper", "paper", lambda r: r["supported"]),
        ("plan_estimate", "estimate", lambda r: r["supported"] + r["not_supported"]),
    )
    for scenario, base, rate in targets:
        start = by_scenario.get(base)
        if start is None or rate(start) >= TARGET_POWER:
            continue
        for k in (k for k in LADDER if k <= top):
            c = verdict_counts(spec, start["effect"], n, level, rng, replicas=k)
            row = _row(spec, scenario, start["effect"], n, c, INCONCLUSIVE, replicas=k)
            rows.append(row)
            if rate(row) >= TARGET_POWER:
                break
    return rows


def _zero() -> dict[str, int]:
    return {SUPPORTED: 0, NOT_SUPPORTED: 0, INCONCLUSIVE: 1}


_JOB: dict[str, Any] = {}  # the specs of a parallel calibration, inherited by forked workers


def _calibrate_index(i: int) -> list[dict[str, Any]]:
    spec, est, obs = _JOB["specs"][i], _JOB["estimates"][i], _JOB["observed"][i]
    return calibrate_claim(spec, est, obs, **_JOB["settings"])


def calibrate(
    specs: Sequence[ClaimSpec],
    claims: pd.DataFrame,
    *,
    n_sims: int,
    level: float,
    seed: int = 0,
    n_jobs: int = 1,
    plan: bool = True,
    plan_sims: int = 40,
    plan_max_replicas: int = max(LADDER),
) -> pd.DataFrame:
    """Verdict rates of every claim in every scenario; ``claims`` (the claims table of the
    real data) gives each claim's estimate and verdict for the stability row."""
    by_id = claims.set_index("claim_id")
    _JOB.update(
        specs=list(specs),
        estimates=[float(by_id.loc[s.claim_id, "estimate"]) for s in specs],
        observed=[str(by_id.loc[s.claim_id, "verdict"]) for s in specs],
        settings={
            "n_sims": n_sims,
            "level": level,
            "seed": seed,
            "plan": plan,
            "plan_sims": plan_sims,
            "plan_max_replicas": plan_max_replicas,
        },
    )
    try:
        if n_jobs <= 1 or len(specs) < 2:
            parts = [_calibrate_index(i) for i in range(len(specs))]
        else:
            # fork: the specs' simulators are closures over the observed tables
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(min(n_jobs, len(specs)), mp_context=ctx) as pool:
                parts = list(pool.map(_calibrate_index, range(len(specs))))
    finally:
        _JOB.clear()
    return pd.DataFrame([r for part in parts for r in part], columns=list(COLUMNS))


def mc_se(rate: float, n: int) -> float:
    """Monte Carlo standard error of a rate from ``n`` draws."""
    return math.sqrt(max(rate * (1 - rate), 0.0) / n) if n else math.nan


def _mde(rows: pd.DataFrame, margin: float, paper: float) -> float:
    """Smallest planted effect (along margin -> paper -> 2x) supported with 80% power,
    interpolated linearly between planted effects; NaN if none reaches it."""
    span = paper - margin
    if span == 0:
        return math.nan
    line = rows[rows["scenario"].isin(["margin", "paper", "power"])].copy()
    line["t"] = (line["effect"] - margin) / span
    line = line.sort_values("t")
    t, p = line["t"].to_numpy(), line["supported"].to_numpy()
    for i in range(len(t)):
        if p[i] >= TARGET_POWER:
            if i == 0:
                return float(margin + t[0] * span)
            f = (TARGET_POWER - p[i - 1]) / (p[i] - p[i - 1])
            return float(margin + (t[i - 1] + f * (t[i] - t[i - 1])) * span)
    return math.nan


SUMMARY_COLUMNS = (
    "experiment",
    "claim_id",
    "false_support",
    "false_support_se",
    "support_no_effect",
    "support_no_effect_se",
    "power",
    "power_se",
    "opposite_not_supported",
    "opposite_not_supported_se",
    "margin_inconclusive",
    "mde80",
    "stability",
    "stability_se",
    "paper_effect",
    "margin",
    "n_sims",
    "error",
)


def summary(table: pd.DataFrame, specs: Sequence[ClaimSpec]) -> pd.DataFrame:
    """One row per claim: false support, power, opposite, MDE, stability, each with its
    Monte Carlo SE, and whether each verdict was reached in the scenario meant for it."""
    rows = []
    for spec in specs:
        mine = table[(table["claim_id"] == spec.claim_id) & (table["replicas"] == 1)]
        failed = mine[mine["scenario"] == "failed"]

        def at(scenario: str, column: str, mine=mine) -> tuple[float, float]:
            r = mine[mine["scenario"] == scenario]
            if r.empty:
                return math.nan, math.nan
            rate = float(r[column].iloc[0])
            return rate, mc_se(rate, int(r["n_sims"].iloc[0]))

        fs, fs_se = at("margin", "supported")
        ne, ne_se = at("no_effect", "supported")
        pw, pw_se = at("paper", "supported")
        op, op_se = at("opposite", "not_supported")
        mi, _ = at("margin", "inconclusive")
        st, st_se = at("estimate", "same_as_observed")
        rows.append(
            {
                "experiment": spec.experiment,
                "claim_id": spec.claim_id,
                "false_support": fs,
                "false_support_se": fs_se,
                "support_no_effect": ne,
                "support_no_effect_se": ne_se,
                "power": pw,
                "power_se": pw_se,
                "opposite_not_supported": op,
                "opposite_not_supported_se": op_se,
                "margin_inconclusive": mi,
                "mde80": _mde(mine, spec.effects.margin, spec.effects.paper),
                "stability": st,
                "stability_se": st_se,
                "paper_effect": spec.effects.paper,
                "margin": spec.effects.margin,
                "n_sims": int(mine["n_sims"].max()) if len(mine) else 0,
                "error": str(failed["error"].iloc[0]) if len(failed) else "",
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def reading(verdict: str, power: float, stability: float) -> str:
    """How to read a verdict given the rule's power and the verdict's stability."""
    if verdict == INCONCLUSIVE:
        if not math.isfinite(power):
            return "not calibrated"
        if power < TARGET_POWER:
            return f"this grid cannot answer (power {power:.2f} at the paper's effect)"
        return f"the data sit on the line (power {power:.2f} at the paper's effect)"
    if math.isfinite(stability) and stability < STABLE:
        return f"unstable: a rerun repeats it with probability {stability:.2f}"
    return "stable" if math.isfinite(stability) else ""


def _pct(rate: float, se: float) -> str:
    return "n/a" if not math.isfinite(rate) else f"{rate:.2f} ± {se:.2f}"


def summary_markdown(summ: pd.DataFrame, alpha: float) -> str:
    lines = [
        "Rates over simulated reruns of the shipped grid (± Monte Carlo SE). false support: "
        f"'supported' with the statistic on the rule's margin (nominal at most {alpha:g}); "
        "power: 'supported' at the paper's effect; opposite: 'not supported' against the "
        "claim; MDE80: smallest effect supported with 80% power; stability: a rerun at the "
        "estimated effect repeats the observed verdict.",
        "",
        "| claim | false support | no effect | power | opposite | MDE80 | stability |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in summ.iterrows():
        mde = "none within 2x" if not math.isfinite(r["mde80"]) else f"{r['mde80']:.3g}"
        lines.append(
            f"| `{r['claim_id']}` | {_pct(r['false_support'], r['false_support_se'])} | "
            f"{_pct(r['support_no_effect'], r['support_no_effect_se'])} | "
            f"{_pct(r['power'], r['power_se'])} (at {r['paper_effect']:.3g}) | "
            f"{_pct(r['opposite_not_supported'], r['opposite_not_supported_se'])} | {mde} | "
            f"{_pct(r['stability'], r['stability_se'])} |"
        )
    return "\n".join(lines) + "\n"


def calibration_job(
    analysis: str,
    inputs: dict[str, str],
    settings: dict,
    level: float,
    claims_path: str,
    n_sims: int,
    seed: int,
    n_jobs: int,
    parquet_out: str,
    rates_out: str,
    md_out: str,
    plan_sims: int = 40,
    plan_max_replicas: int = max(LADDER),
) -> None:
    """Calibrate an experiment's claims (``analysis`` as in :func:`claims.claims_job`):
    the per-claim summary to ``parquet_out``, every scenario's rates to ``rates_out``."""
    import importlib

    import pyarrow as pa

    from papergrid.io import write_parquet, write_text

    module = importlib.import_module(analysis)
    specs = module.claim_specs(module.claim_data(inputs), **settings)
    claims = pd.read_parquet(claims_path)
    table = calibrate(
        specs,
        claims,
        n_sims=n_sims,
        level=level,
        seed=seed,
        n_jobs=n_jobs,
        plan_sims=plan_sims,
        plan_max_replicas=plan_max_replicas,
    )
    summ = summary(table, specs)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), rates_out)
    write_parquet(pa.Table.from_pandas(summ, preserve_index=False), parquet_out)
    write_text(summary_markdown(summ, (1 - level) / 2), md_out)
